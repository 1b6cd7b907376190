"""TARGETS: each target of the issues with the measured value and meets / misses (reported, never
asserted). Most figures come from the other sections' results; three are measured here, on the shipped
sample (data/sample), embedded default, in a scratch DAGSTER_HOME and warehouse:

- small delivery vs bare dbt build: `clawdata dagster materialize --all` builds the sample; the
  warehouse is copied. Then, 3 times (alternating which goes first): (a) a file of 10 changed customers
  (datasets.changed_customers) is delivered into the inbox and `materialize --all` runs; (b) on the
  copy, plain `dbt build` of the same dbt project (the project copy, clawdata's generated profile,
  target `clawdata`, its own target path, warmed by one unmeasured build). Ratio of the medians.
- one model edited vs bare dbt build: likewise, 3 times, after a line is appended to a leaf model of
  the project copy (EDITED_MODEL): each parses the edited project (partially) and builds it.
- status: after those materializations, `clawdata dagster status` and `clawdata --version` as
  subprocesses, 5 times each, medians.
"""

from benchmarks.core import Context, copy_warehouse, layer, loadavg, read_back, run, stats
from benchmarks.datasets import changed_customers
from benchmarks.fmt import f, med, num, size_label, table

EDITED_MODEL = "models/marts/fct_category_revenue.sql"  # a leaf: a line appended, as a review leaves one
REFERENCE = ("Dagster examples/deploy_docker on this machine kind: cold start 14.7 s, run launch to success 6.7 s median,"
             " images 419 MB / 493 MB")


def run_all(ctx: Context, reps: int = 3, status_reps: int = 5) -> dict:
    sample, home, logs = ctx.repo / "data" / "sample", ctx.runs / "home", ctx.runs / "logs"
    ctx.log("targets: the sample, full build ...")
    full = ctx.materialize(sample, home, logs / "full.log", fresh=True)
    if full["returncode"] != 0:
        return {"error": f"materialize --all failed on the sample; see {full['log']}"}
    copy = copy_warehouse(ctx.warehouse, ctx.runs / "dbt-copy" / ctx.warehouse.name)
    target = ctx.runs / "dbt-target"
    if ctx.dbt_build(sample, copy, target, logs / "dbt-build-warmup.log")["returncode"] != 0:
        return {"error": f"dbt build failed on the copy; see {logs / 'dbt-build-warmup.log'}"}

    def bare(name, i):
        return ctx.dbt_build(sample, copy, target, logs / f"dbt-build-{name}-{i}.log")

    def delivery(i):
        changed_customers(sample, ctx.inbox / f"customers_bench_{i:02d}.csv", offset=i)
        return ctx.materialize(sample, home, logs / f"delivery-{i}.log", fresh=False)

    out, ok = _pairs(ctx, reps, "delivery", delivery, bare)
    out["delivery_profile"] = profile(home, [p["delivery"] for p in ok])
    model = ctx.project / EDITED_MODEL

    def edit(i):  # (before both: each parses and builds the edited project its own way)
        with model.open("a") as sql:
            sql.write(f"-- reviewed, edit {i}\n")

    out["edit"], _ = _pairs(ctx, reps, "edit", lambda i: ctx.materialize(sample, home, logs / f"edit-{i}.log", fresh=False),
                            bare, before=edit)
    ctx.log("targets: `clawdata dagster status` and `clawdata --version` ...")
    for name, args in (("status", ["dagster", "status"]), ("version", ["--version"])):
        runs = [run([ctx.clawdata, *args], ctx.env(sample, home=home), logs / f"{name}-{i}.log", cwd=ctx.runs) for i in range(status_reps)]
        out[f"{name}_wall_s"] = stats(m["wall_s"] for m in runs if m["returncode"] == 0)
        out[f"{name}_cpu_s"] = stats(m["cpu_s"] for m in runs if m["returncode"] == 0)
        out[f"{name}_failed"] = [m["log"] for m in runs if m["returncode"] != 0]
    return out


def _pairs(ctx: Context, reps: int, name: str, ours, bare, before=None) -> tuple[dict, list[dict]]:
    """`reps` pairs of clawdata's `ours(i)` and the bare `dbt build`, alternating which goes first,
    each pair after `before(i)`: their figures, and the pairs where both succeeded."""
    pairs = []
    for i in range(reps):
        if before:
            before(i)
        pair = {"load_at_start": loadavg()}
        steps = [(name, ours), ("dbt_build", lambda i: bare(name, i))]
        for key, step in (steps if i % 2 == 0 else steps[::-1]):
            pair[key] = step(i)
        ctx.log(f"  {name} rep {i + 1}/{reps}: clawdata {pair[name]['wall_s']:.1f} s, dbt build {pair['dbt_build']['wall_s']:.1f} s"
                f"  [load {pair['load_at_start']:.1f}]")
        pairs.append(pair)
    ok = [p for p in pairs if p[name]["returncode"] == 0 and p["dbt_build"]["returncode"] == 0]
    out = {"pairs": pairs, f"{name}_wall_s": stats(p[name]["wall_s"] for p in ok),
           "dbt_build_wall_s": stats(p["dbt_build"]["wall_s"] for p in ok),
           "pair_ratio": stats(p[name]["wall_s"] / p["dbt_build"]["wall_s"] for p in ok)}
    out["ratio"] = out[f"{name}_wall_s"]["median"] / out["dbt_build_wall_s"]["median"] if ok else None
    return out, ok


# Where a small delivery's seconds go, from each run's event log (core.read_back).
PROFILE = (
    ("start-up", lambda r: r["phases"]["startup_s"]),
    ("run creation", lambda r: r["phases"]["run_creation_s"]),
    ("bronze + silver", lambda r: sum(v for k, v in r["steps"].items() if layer(k) in ("bronze", "silver"))),
    # (not split around dbt's first result, as THROUGHPUT does: here the reused models' outputs come first)
    ("gold", lambda r: sum(v for k, v in r["steps"].items() if layer(k) == "gold")),
    ("replica", lambda r: sum(v for k, v in r["steps"].items() if layer(k) == "replica")),
    ("between steps", lambda r: r["phases"]["between_steps_s"]),
    ("shutdown", lambda r: r["phases"]["shutdown_s"]),
)


def profile(home, runs: list[dict]) -> dict:
    read_back(home, runs)
    out = {}
    for label, get in PROFILE:
        values = []
        for r in runs:
            try:
                values.append(get(r))
            except (KeyError, TypeError):
                pass
        out[label] = stats(v for v in values if v is not None)
    return out


def _at(sizes: list[dict], n: int):
    """The size of `n` customers, else the largest measured as a stand-in (no verdict), else None."""
    exact = next((s for s in sizes if s.get("customers") == n and not s.get("error")), None)
    return exact or next((s for s in reversed(sizes) if not s.get("error")), None), exact is not None


def rows(result: dict) -> list[dict]:
    """Each target: figure, target (text and limit), measured value (comparable to the limit) and text."""
    out = []

    def add(short, figure, target, limit, value, text, size=None, n=None):
        verdict = "-" if value is None else ("meets" if value <= limit else "MISSES")
        if value is not None and size is not None and size.get("customers") != n:
            text, verdict = f"{text} (at {size_label(size['customers'])}; {size_label(n)} not run)", f"not at {size_label(n)}"
        out.append({"short": short, "figure": figure, "target": target, "limit": limit, "value": value,
                    "measured": text if value is not None else "not run", "verdict": verdict})

    t = result.get("targets") or {}
    add("sample: delivery / dbt build", "sample: small delivery (10 changed customers, materialize --all) / bare `dbt build`, medians of 3", "<= 1.5x", 1.5,
        t.get("ratio"), f"{num(t.get('ratio'), 2)}x ({med(t.get('delivery_wall_s'))} s / {med(t.get('dbt_build_wall_s'))} s)")
    e = t.get("edit") or {}
    add("sample: edit / dbt build", "sample: one model edited (a line appended to a leaf) / bare `dbt build` after it, medians of 3",
        "<= 1.5x", 1.5, e.get("ratio"), f"{num(e.get('ratio'), 2)}x ({med(e.get('edit_wall_s'))} s / {med(e.get('dbt_build_wall_s'))} s)")
    status, version = t.get("status_wall_s"), t.get("version_wall_s")
    add("sample: status", "sample: `clawdata dagster status` after a materialize (wall, median of 5)", "<= 1.5 s and <= --version + 1 s",
        min(1.5, version["median"] + 1) if version else 1.5, status and status["median"],
        f"{med(status, 2)} s (--version {med(version, 2)} s)")
    deliveries = [s for s in (result.get("deliveries") or {}).get("sizes", []) if not s.get("error")]
    d1, _ = _at(deliveries, 1_000_000)
    add("1M: delivery / full run", "1M: one small delivery / full run, wall (`sensor tick inbox_sensor`)", "<= 0.25x", 0.25,
        (d1 or {}).get("after_1", {}).get("ratio_full_wall"), f"{num((d1 or {}).get('after_1', {}).get('ratio_full_wall'), 2)}x", d1, 1_000_000)
    d10, _ = _at(deliveries, 10_000_000)
    a1, a30 = (d10 or {}).get("after_1") or {}, (d10 or {}).get(f"after_{(result.get('deliveries') or {}).get('deliveries')}") or {}
    add("10M: delivery / full run", "10M: delivery / full run (bronze-to-gold)", "<= 10 %", 0.10, a1.get("ratio_full"),
        f"{num(a1.get('ratio_full') and a1['ratio_full'] * 100, 1)} % (tick wall: {num(a1.get('ratio_full_wall') and a1['ratio_full_wall'] * 100, 0)} %)",
        d10, 10_000_000)
    add("10M: delivery / floor", "10M: delivery / its floor (bronze-to-gold / floor SQL)", "<= 1.5x", 1.5, a1.get("ratio_floor"), f"{num(a1.get('ratio_floor'), 1)}x",
        d10, 10_000_000)
    b2g = [(c.get("bronze_to_gold_s") or (c.get("breakdown") or {}).get("bronze_to_gold_s")) for c in (a1, a30)]
    drift = b2g[1] / b2g[0] if all(b2g) else None
    add("10M: after 30 / after 1", "10M: after 30 deliveries / after 1 (bronze-to-gold)", "within 1.25x either way", 1.25, drift and max(drift, 1 / drift),
        f"{num(drift, 2)}x", d10, 10_000_000)
    evaluation = (d10 or {}).get("sensor_evaluation") or {}
    add("10M: empty tick CPU", "10M: empty sensor tick, CPU in the daemon's code server", "< 2 s", 2.0, evaluation.get("cpu_s"),
        f"{num(evaluation.get('cpu_s'), 4)} s (the CLI's tick, a new process: {num(((d10 or {}).get('empty_ticks') or [{}, {}])[1].get('cpu_s'), 2)} s)",
        d10, 10_000_000)
    sizes = (result.get("throughput") or {}).get("sizes") or []
    for n, limit in ((1000, 10.0), (10_000_000, 1.5)):
        s, _ = _at(sizes, n)
        value = ((s or {}).get("ratio_wall") or {}).get("median")
        add(f"{size_label(n)}: full run / floor", f"{size_label(n)}: full run / floor (wall)", f"<= {limit:g}x", limit, value,
            f"{num(value, 2)}x (cpu {med((s or {}).get('ratio_cpu'), 2)}x" + (
                f"; dbt build alone {med(s['dbt_alone_ratio'], 2)}x)" if (s or {}).get("dbt_alone_ratio") else ")"), s, n)
    stack = result.get("stack") or {}
    sm = stack.get("summary") or {}
    for figure, key, limit in (("stack: trivial run, submit to success (median)", "launch_submit_to_success_s", 3.0),
                               ("stack: first start (fresh volumes) to healthy + loaded", "first_start_loaded_s", 10.0),
                               ("stack: restart (volumes kept) to healthy + loaded", "restart_loaded_s", 10.0)):
        add(figure.split(" (")[0].replace(" to healthy + loaded", ""), figure, f"<= {limit:g} s", limit, (sm.get(key) or {}).get("median"), f"{med(sm.get(key), 2)} s")
    for figure, key, limit in (("stack: user-code image", "user_code", 450), ("stack: webserver/daemon image", "dagster (webserver, daemon)", 400)):
        mb = ((stack.get("images") or {}).get(key) or {}).get("mb")
        add(figure, figure, f"< {limit} MB", limit, mb, f"{num(mb, 0)} MB")
    return out


def render(result: dict) -> str:
    t, out = result.get("targets") or {}, ["TARGETS  (reported, never asserted)"]
    if t.get("error"):
        out.append(f"  sample figures: ERROR {t['error']}")
    elif t:
        out.append(f"  sample: small delivery {f(t.get('delivery_wall_s'))} s, bare dbt build {f(t.get('dbt_build_wall_s'))} s, ratio per pair"
                   f" {f(t.get('pair_ratio'), 2, 'x')}; status {f(t.get('status_wall_s'), 2)} s (cpu {med(t.get('status_cpu_s'), 2)}),"
                   f" --version {f(t.get('version_wall_s'), 2)} s" + (f"; status FAILED: {t['status_failed']}" if t.get("status_failed") else ""))
        if t.get("edit"):
            e = t["edit"]
            out.append(f"  sample: one model edited {f(e.get('edit_wall_s'))} s, bare dbt build after it {f(e.get('dbt_build_wall_s'))} s,"
                       f" ratio per pair {f(e.get('pair_ratio'), 2, 'x')}")
        if t.get("delivery_profile"):
            out.append("  the small delivery's seconds (medians, from its event log): " + ", ".join(
                f"{label} {med(v, 2)}" for label, v in t["delivery_profile"].items() if v))
    out.append(table([[r["figure"], r["target"], r["measured"], r["verdict"]] for r in rows(result)],
                     ["figure", "target", "measured", "verdict"], left=4))
    out.append(REFERENCE)
    return "\n".join(out)

