"""Formatting shared by the sections' tables: figures as `median [min-max]`, sizes, plain-text tables."""


def f(s: dict | None, digits: int = 1, unit: str = "") -> str:
    """A stats dict as `median [min-max]`."""
    if not s:
        return "-"
    m, lo, hi = s["median"], s["min"], s["max"]
    if s.get("n", 1) == 1 or lo == hi:
        return f"{m:.{digits}f}{unit}"
    return f"{m:.{digits}f}{unit} [{lo:.{digits}f}-{hi:.{digits}f}]"


def med(s: dict | None, digits: int = 1) -> str:
    return "-" if not s else f"{s['median']:.{digits}f}"


def num(v, digits: int = 1, unit: str = "") -> str:
    return "-" if v is None else f"{v:.{digits}f}{unit}"


def ratio(a, b):
    return a / b if a is not None and b else None


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def table(rows: list[list], header: list[str], left: int = 1) -> str:
    """Columns padded to their widest cell: the first `left` ones aligned left, the others right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r):
        return "  ".join(str(c).ljust(w) if i < left else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def add(a: dict | None, b: dict | None) -> dict | None:
    """Two stats dicts summed, bound by bound (for a phase made of two)."""
    if not a or not b:
        return None
    return {k: a[k] + b[k] for k in ("median", "min", "max")} | {"n": a.get("n")}
