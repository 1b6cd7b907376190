"""The chart of a result (benchmark.png), drawn with matplotlib (Agg backend, no display needed): bars are
medians, whiskers min to max, dashed lines targets."""

from pathlib import Path

from benchmarks import targets
from benchmarks.fmt import size_label

COLORS = ["#316eb4", "#2ea05a", "#e67e22", "#8e44ad", "#7f8c8d"]


def _bars(ax, title, groups, series, log=False, lines=(), ylabel="s"):
    """groups: [(label, {series: stats dict or None})]; lines: [(value, label)]."""
    ax.set_title(title, fontsize=10, loc="left")
    width = 0.8 / max(len(series), 1)
    drawn = False
    for i, name in enumerate(series):
        xs, meds, lo, hi = [], [], [], []
        for g, (_, data) in enumerate(groups):
            s = data.get(name)
            if s and s.get("median") is not None:
                xs.append(g + (i - (len(series) - 1) / 2) * width)
                meds.append(s["median"])
                lo.append(s["median"] - s.get("min", s["median"]))
                hi.append(s.get("max", s["median"]) - s["median"])
        if xs:
            drawn = True
            bars = ax.bar(xs, meds, width * 0.9, yerr=[lo, hi], capsize=3, color=COLORS[i % len(COLORS)], label=name)
            ax.bar_label(bars, labels=[f"{m:.3g}" for m in meds], fontsize=7, padding=2)
    for value, label in lines:
        ax.axhline(value, color="#c0392b", linestyle="--", linewidth=1)
        ax.annotate(label, (1, value), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=7, color="#c0392b")
    ax.set_xticks(range(len(groups)), [g for g, _ in groups], fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.margins(y=0.15)
    if log and drawn:
        _plain(ax.yaxis, ax.set_yscale)
    if drawn:
        ax.legend(fontsize=7, loc="best", framealpha=0.8)
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes, color="grey")


def _plain(axis, set_scale):
    """A log scale labelled 0.5, 2, 10 rather than 5x10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    set_scale("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _one(v):
    return {"median": v, "min": v, "max": v} if v is not None else None


def draw(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(18, 10), dpi=100)
    m = result.get("machine") or {}
    fig.suptitle(f"clawdata benchmarks  {result.get('timestamp', '')}\n{m.get('summary', '')}", fontsize=11)
    sizes = (result.get("throughput") or {}).get("sizes") or []
    groups = [(size_label(s["customers"]), s) for s in sizes]
    _bars(axes[0, 0], "THROUGHPUT: materialize --all vs the floor (wall s)",
          [(g, {"platform": s["platform_wall_s"], "floor": s["floor_wall_s"]}) for g, s in groups], ["platform", "floor"], log=True)
    _bars(axes[0, 1], "platform / floor, same repetition",
          [(g, {"wall": s["ratio_wall"], "cpu": s["ratio_cpu"]}) for g, s in groups], ["wall", "cpu"], log=True,
          lines=[(1.5, "10M target 1.5x"), (10, "1k target 10x")], ylabel="ratio")
    _bars(axes[0, 2], "INCREMENTAL: second run, inputs unchanged (wall s)",
          [(g, {"full run": s["platform_wall_s"], "second run": s.get("second_wall_s")}) for g, s in groups], ["full run", "second run"])
    dsizes = [s for s in (result.get("deliveries") or {}).get("sizes", []) if not s.get("error")]
    last = (result.get("deliveries") or {}).get("deliveries")
    _bars(axes[1, 0], "INCREMENTAL DELIVERIES: one delivery (wall s)",
          [(size_label(s["customers"]), {"full run": _one(s["full"]["wall_s"]), "delivery 1 tick": _one(s["after_1"]["wall_s"]),
                                         f"delivery {last} tick": _one(s[f"after_{last}"]["wall_s"]),
                                         "delivery 1 floor": _one(((s["after_1"].get("floor") or {}).get("detail") or {}).get("sql_s"))})
           for s in dsizes], ["full run", "delivery 1 tick", f"delivery {last} tick", "delivery 1 floor"], log=True)
    sm = (result.get("stack") or {}).get("summary") or {}
    pile = (result.get("stack") or {}).get("pileup") or {}
    _bars(axes[1, 1], "STACK (s)", [("first start", {"healthy": sm.get("first_start_healthy_s"), "loaded / success": sm.get("first_start_loaded_s")}),
                                   ("restart", {"healthy": sm.get("restart_healthy_s"), "loaded / success": sm.get("restart_loaded_s")}),
                                   ("trivial run", {"queue -> start": sm.get("launch_queue_to_start_s"),
                                                    "loaded / success": sm.get("launch_submit_to_success_s")})]
          + ([(f"{pile['runs']} runs at once", {"queue -> start": pile.get("wait_s")})] if pile else []),
          ["healthy", "queue -> start", "loaded / success"], lines=[(10, "start target 10 s"), (3, "run target 3 s")])
    ax = axes[1, 2]
    rows = [r for r in targets.rows(result) if r["value"] is not None and not r["verdict"].startswith("not at")]
    ax.set_title("TARGETS: measured / target (<= 1 meets)", fontsize=10, loc="left")
    if rows:
        ratios = [r["value"] / r["limit"] for r in rows]
        ax.barh(range(len(rows)), ratios, color=["#2ea05a" if v <= 1 else "#c0392b" for v in ratios])
        ax.set_yticks(range(len(rows)), [r["short"] for r in rows], fontsize=8)
        ax.axvline(1, color="black", linewidth=1)
        _plain(ax.xaxis, ax.set_xscale)
        ax.margins(x=0.3)
        ax.invert_yaxis()
        for i, (r, v) in enumerate(zip(rows, ratios)):
            ax.text(v, i, f" {r['measured'].split(' (')[0]}", va="center", fontsize=7)
    else:
        ax.text(0.5, 0.5, "no target measured", ha="center", va="center", transform=ax.transAxes, color="grey")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
