"""Deterministic sample data for clawdata: the committed `data/sample/` files and benchmark inputs.

`generate` is imported lazily so that `python -m clawdata.sample_data.generate` runs without
runpy's "found in sys.modules" warning.
"""

__all__ = ["generate"]


def __getattr__(name: str):
    if name == "generate":
        from clawdata.sample_data.generate import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
