"""Serving: the read-only replica of silver and gold that readers use (warehouse/replica.py)."""

from clawdata.defs.serving.replica import build_defs

__all__ = ["build_defs"]
