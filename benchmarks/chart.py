"""The PNG chart of a benchmark result (benchmarks/results/benchmark.png), drawn with benchmarks.png."""

import math
from pathlib import Path

from benchmarks.png import Canvas

INK, GRID, MUTED = (30, 30, 30), (225, 225, 225), (110, 110, 110)
BLUE, ORANGE, GREEN, PURPLE, GREY = (49, 110, 180), (230, 126, 34), (46, 160, 90), (142, 68, 173), (150, 150, 150)
RED, REF = (200, 40, 40), (120, 120, 120)
SCALE = 2  # font scale: 10 x 14 px per character


def _fmt(v: float) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _nice_ticks(vmax: float, n: int = 5) -> list[float]:
    if vmax <= 0:
        return [0, 1]
    raw = vmax / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(math.ceil(vmax / step)) + 1)]


def bar_panel(c: Canvas, x, y, w, h, title, groups, series, lines=(), log=False, note=None):
    """groups: [(label, {series_name: stats})]; series: [(name, color)]; lines: [(value, label, color)].
    stats: {"median", "min", "max"} or None. Bars show medians, whiskers min..max."""
    c.text(x, y, title, INK, SCALE)
    ly = y + 22
    lx = x
    for name, color in series:
        c.rect(lx, ly + 2, lx + 12, ly + 14, color)
        c.text(lx + 18, ly + 1, name, MUTED, SCALE)
        lx += 18 + c.text_width(name, SCALE) + 24
    if note:
        c.text(x, y + h - 14, note, MUTED, SCALE)
    top, bottom = y + 50, y + h - (40 if note else 22) - 14
    left, right = x + 62, x + w - 10
    values = [s[k] for _, d in groups for s in d.values() if s for k in ("median", "max") if s.get(k) is not None]
    values += [v for v, _, _ in lines if v is not None]
    if not values:
        c.text(left, (top + bottom) // 2, "no data", MUTED, SCALE)
        return
    if log:
        positive = [v for v in values if v > 0] + [s["min"] for _, d in groups for s in d.values() if s and s.get("min", 0) > 0]
        lo = 10 ** math.floor(math.log10(min(positive)))
        hi = 10 ** math.ceil(math.log10(max(positive) * 1.15))
        ticks = [lo * 10**i for i in range(int(round(math.log10(hi / lo))) + 1)]

        def ypos(v):
            v = max(v, lo)
            return bottom - (math.log10(v / lo) / math.log10(hi / lo)) * (bottom - top)
    else:
        ticks = _nice_ticks(max(values) * 1.15)
        hi = ticks[-1]

        def ypos(v):
            return bottom - (v / hi) * (bottom - top)

    for t in ticks:
        ty = int(ypos(t))
        c.hline(left, right, ty, GRID)
        label = f"{t:g}" if t < 1e4 else f"{t:.0e}"
        c.text(left - 6, ty - 7, label, MUTED, SCALE, anchor="right")
    c.vline(left, top, bottom + 1, INK)
    c.hline(left, right, bottom, INK)
    for value, label, color in lines:
        if value is not None:
            c.hline(left, right, int(ypos(value)), color, width=2, dash=8)
    n = len(groups)
    slot = (right - left) / max(n, 1)
    bar_w = min(60, (slot - 16) / max(len(series), 1))
    for gi, (label, data) in enumerate(groups):
        gx = left + gi * slot + (slot - bar_w * len(series)) / 2
        for si, (name, color) in enumerate(series):
            s = data.get(name)
            bx = gx + si * bar_w
            if not s or s.get("median") is None:
                continue
            c.rect(bx + 2, ypos(s["median"]), bx + bar_w - 2, bottom, color)
            cx = int(bx + bar_w / 2)
            if s.get("min") is not None and s.get("max") is not None and s["max"] > s["min"]:
                y0, y1 = ypos(s["max"]), ypos(s["min"])
                c.vline(cx - 1, y0, y1 + 1, INK, width=2)
                c.hline(cx - 6, cx + 6, int(y0), INK, width=2)
                c.hline(cx - 6, cx + 6, int(y1), INK, width=2)
            text_y = min(ypos(s["median"]), ypos(s.get("max") or s["median"])) - 17
            c.text(cx, int(text_y), _fmt(s["median"]), INK, 1 if bar_w < 40 else SCALE, anchor="center")
        c.text(int(left + gi * slot + slot / 2), bottom + 6, label, INK, SCALE, anchor="center")
    # Line labels last, on a white box, alternating right and left so that close lines stay legible.
    for i, (value, label, color) in enumerate(l for l in lines if l[0] is not None):
        ly = int(ypos(value)) - 17
        tw = c.text_width(label, SCALE)
        lx = right - 4 - tw if i % 2 == 0 else left + 6
        c.rect(lx - 3, ly - 2, lx + tw + 3, ly + 15, (255, 255, 255))
        c.text(lx, ly, label, color, SCALE)


def _size_label(n: int) -> str:
    if n >= 1_000_000:
        return f"{n // 1_000_000}M"
    if n >= 1000:
        return f"{n // 1000}K"
    return str(n)


def draw(result: dict, path: Path) -> None:
    W, H = 1860, 1160
    c = Canvas(W, H)
    c.text(30, 20, "CLAWDATA BENCHMARKS", INK, 3)
    m = result.get("machine", {})
    c.text(30, 52, f"{result.get('timestamp', '')}  -  {m.get('summary', '')}", MUTED, SCALE)
    c.text(30, 72, "bars: median; whiskers: min-max; dashed: target (red) and Dagster deploy_docker on this machine kind (grey)", MUTED, SCALE)
    pw, ph = 590, 500
    cols = [30, 30 + pw + 20, 30 + 2 * (pw + 20)]
    rows = [110, 110 + ph + 40]

    sizes = (result.get("throughput") or {}).get("sizes") or []
    groups = [(_size_label(s["customers"]), {"platform": s["platform_wall_s"], "floor": s["floor_wall_s"]}) for s in sizes]
    bar_panel(c, cols[0], rows[0], pw, ph, "MATERIALIZE --ALL VS FLOOR (S, LOG)", groups,
              [("platform", BLUE), ("floor", GREEN)], log=True, note="customers (orders x4)")

    groups = [(_size_label(s["customers"]), {"wall time": s["ratio_wall"], "cpu time": s["ratio_cpu"]}) for s in sizes]
    bar_panel(c, cols[1], rows[0], pw, ph, "PLATFORM / FLOOR, SAME RUN (LOG)", groups,
              [("wall time", BLUE), ("cpu time", ORANGE)], lines=[(1.5, "target 1.5\u00d7", RED)], log=True,
              note="ratio of the two measured in one repetition")

    groups = [(_size_label(s["customers"]), {"full run": s["platform_wall_s"], "second run": s.get("second_wall_s")}) for s in sizes]
    bar_panel(c, cols[2], rows[0], pw, ph, "SECOND RUN, INPUTS UNCHANGED (S, LOG)", groups,
              [("full run", BLUE), ("second run", PURPLE)], log=True, note="same warehouse and instance")

    stack = result.get("stack") or {}
    summ = stack.get("summary") or {}
    groups = [
        ("first start", {"healthy": summ.get("first_start_healthy_s"), "loaded": summ.get("first_start_loaded_s")}),
        ("restart", {"healthy": summ.get("restart_healthy_s"), "loaded": summ.get("restart_loaded_s")}),
    ]
    bar_panel(c, cols[0], rows[1], pw, ph, "STACK START: UP TO HEALTHY / LOADED (S)", groups,
              [("healthy", BLUE), ("loaded", GREEN)], lines=[(10, "target 10 s", RED), (14.7, "deploy_docker 14.7 s", REF)],
              note="first: fresh volumes; restart: after down")
    groups = [("trivial run", {"queue to start": summ.get("launch_queue_to_start_s"), "submit to success": summ.get("launch_submit_to_success_s")})]
    bar_panel(c, cols[1], rows[1], pw, ph, "RUN LAUNCH, DOCKERRUNLAUNCHER (S)", groups,
              [("queue to start", ORANGE), ("submit to success", BLUE)],
              lines=[(4, "target 4 s", RED), (6.7, "deploy_docker 6.7 s", REF)], note=f"asset raw_products, {summ.get('launches_ok', 0)} runs")
    images = stack.get("images") or {}

    def img(label):
        i = images.get(label)
        return {"median": i["mb"], "min": i["mb"], "max": i["mb"]} if i else None

    groups = [("user code", {"image": img("user_code"), "target": {"median": 450, "min": 450, "max": 450}}),
              ("webserver/daemon", {"image": img("dagster (webserver, daemon)"), "target": {"median": 400, "min": 400, "max": 400}})]
    bar_panel(c, cols[2], rows[1], pw, ph, "IMAGE SIZE (MB)", groups, [("image", BLUE), ("target", (235, 160, 160))],
              lines=[(419, "deploy_docker 419", REF), (493, "deploy_docker 493", REF)], note="docker image inspect .Size")
    c.save(path)
