"""THROUGHPUT: `clawdata dagster materialize --all` on the embedded default against the floor, per size.

Per size, a fresh DAGSTER_HOME; per repetition a fresh warehouse, then
  platform  `clawdata dagster materialize --all` (the real CLI, a subprocess)
  second    the same again, inputs unchanged (INCREMENTAL, incremental.py)
  floor     the same SQL in one DuckDB process (core.py)
  dbt alone (the tiny size only) a bare `dbt build --full-refresh` of the same project on a copy of the
            warehouse the platform run just built: what dbt itself costs of the full run, beside the floor
in alternating order (platform first on even repetitions, floor first on odd ones), so a drift in the
machine's load hits both; the ratio platform / floor is taken within each repetition. Each platform run
is read back from its event log: start-up, run creation, steps, the gold step around dbt's results,
shutdown (WHERE THE PLATFORM'S TIME GOES). After a size's repetitions its warehouse is published alone
(REPLICA, replica.py). A warm-up run (not measured) prepares the dbt project and the page cache.
"""

import shutil

from benchmarks import incremental, replica
from benchmarks.core import Context, copy_warehouse, fresh_file, layer, loadavg, read_back, stats
from benchmarks.datasets import dataset
from benchmarks.fmt import add, f, med, size_label, table


def bench_size(ctx: Context, customers: int, seed: int, reps: int, manifest, second: bool = True,
               dbt_alone: bool = False) -> dict:
    data = dataset(ctx.work, customers, seed, log=ctx.log)
    sample, home, floor_wh = data["dir"], ctx.runs / f"home-{customers}", ctx.runs / "floor" / "warehouse.duckdb"
    shutil.rmtree(home, ignore_errors=True)
    out = []
    for i in range(reps):
        rep, logs = {"rep": i, "load_at_start": loadavg()}, ctx.runs / "logs" / f"{customers}-rep{i}"

        def platform():
            rep["platform"] = ctx.materialize(sample, home, logs / "platform.log", fresh=True)
            if dbt_alone and rep["platform"]["returncode"] == 0:
                rep["dbt_alone"] = _dbt_alone(ctx, sample, logs / "dbt-alone.log", warm=i == 0)
            if second and rep["platform"]["returncode"] == 0:
                rep["second"] = incremental.second_run(ctx, sample, home, logs / "second.log")

        def floor():
            rep["floor"] = ctx.floor("floor", sample, manifest, floor_wh, logs / "floor.log")

        for step in ((platform, floor) if i % 2 == 0 else (floor, platform)):
            step()
        p, fl = rep["platform"], rep["floor"]
        rep["ok"] = ok = p["returncode"] == 0 and fl["returncode"] == 0
        rep["ratio_wall"] = p["wall_s"] / fl["wall_s"] if ok else None
        rep["ratio_cpu"] = p["cpu_s"] / fl["cpu_s"] if ok and fl["cpu_s"] else None
        ctx.log(f"  {customers:>10,} rep {i + 1}/{reps}: platform {p['wall_s']:7.1f} s (cpu {p['cpu_s']:6.1f}), floor"
                f" {fl['wall_s']:7.1f} s (cpu {fl['cpu_s']:6.1f})" + (f", ratio {rep['ratio_wall']:.2f}x" if ok else "")
                + (f"; dbt alone {rep['dbt_alone']['wall_s']:.1f} s" if "dbt_alone" in rep else "")
                + (f"; second run {rep['second']['wall_s']:.1f} s" if "second" in rep else "") + f"  [load {rep['load_at_start']:.1f}]")
        out.append(rep)
        fresh_file(floor_wh)
    try:
        read_back(home, [r[k] for r in out for k in ("platform", "second") if k in r])
    except Exception as e:  # the figures stand without the breakdown
        ctx.log(f"  ! could not read the runs back: {type(e).__name__}: {e}")
    published = replica.measure_publish(ctx.warehouse, ctx.runs) if ctx.warehouse.exists() else None
    fresh_file(ctx.warehouse)
    return {**summarize(customers, data, out), **incremental.summarize(out), "replica": published}


def _dbt_alone(ctx: Context, sample, log, warm: bool) -> dict:
    """dbt's own command on the bronze and silver the platform run just built (a copy): every model
    rebuilt, every test run, as the full run's gold step does, with dbt's partial parse warm (a first,
    unmeasured build parses the project into this target path)."""
    copy = copy_warehouse(ctx.warehouse, ctx.runs / "dbt-alone" / ctx.warehouse.name)  # one path: the parse stays valid
    target = ctx.runs / "dbt-alone-target"
    if warm:
        ctx.dbt_build(sample, copy, target, log.with_name("dbt-alone-warmup.log"), "--full-refresh")
        copy = copy_warehouse(ctx.warehouse, copy)
    return ctx.dbt_build(sample, copy, target, log, "--full-refresh")


def _floor_seconds(detail: dict | None, step: str):
    """The floor's time for the work of one platform step (the gold step: every dbt model and test)."""
    if not detail:
        return None
    if layer(step) == "gold":
        return sum(detail["gold_models"].values()) + sum(detail["gold_tests"].values())
    return (detail["bronze"] | detail["silver"]).get(step)


def summarize(customers: int, data: dict, reps: list[dict]) -> dict:
    ok = [r for r in reps if r["ok"]]
    platform, floor = [r["platform"] for r in ok], [r["floor"] for r in ok]
    step_names = sorted({k for p in platform for k in (p.get("steps") or {})})
    detail = [fl.get("detail") or {} for fl in floor]
    d0 = detail[0] if detail else {}
    return {
        "customers": customers, "rows": data.get("rows"), "input_bytes": data.get("bytes"), "reps": len(reps), "reps_ok": len(ok),
        **{f"{side}_{k}": stats(r[k] for r in runs) for side, runs in (("platform", platform), ("floor", floor)) for k in ("wall_s", "cpu_s")},
        "floor_sql_s": stats(d.get("sql_s") for d in detail),
        "ratio_wall": stats(r["ratio_wall"] for r in ok), "ratio_cpu": stats(r["ratio_cpu"] for r in ok),
        "overhead_s": stats(r["platform"]["wall_s"] - r["floor"]["wall_s"] for r in ok),
        "overhead_per_asset_s": stats((r["platform"]["wall_s"] - r["floor"]["wall_s"]) / max(1, len(r["platform"].get("materializations") or []))
                                      for r in ok if r["platform"].get("materializations")),
        "platform_peak_tree_rss_mb": stats(p["peak_tree_rss_mb"] for p in platform),
        "platform_peak_process_rss_mb": stats(p["peak_process_rss_mb"] for p in platform),
        "floor_peak_rss_mb": stats(fl["peak_tree_rss_mb"] for fl in floor),
        "full_runs_reused_assets": sorted({m["asset"] for p in platform for m in (p.get("materializations") or []) if m.get("reused") is True}),
        "platform_phases": {k: stats((p.get("phases") or {}).get(k) for p in platform)
                            for k in ("startup_s", "run_creation_s", "execution_s", "steps_s", "between_steps_s", "shutdown_s")},
        "platform_steps": {k: stats((p.get("steps") or {}).get(k) for p in platform) for k in step_names},
        "per_step_overhead_s": {k: stats(p["steps"][k] - t for p, d in zip(platform, detail)
                                         if k in (p.get("steps") or {}) and (t := _floor_seconds(d, k)) is not None) for k in step_names},
        "floor_phases": {k: stats((d.get("phases_s") or {}).get(k) for d in detail) for k in ("bronze", "silver", "gold_models", "gold_tests")},
        "dbt": {k: stats((p.get("dbt") or {}).get(k) for p in platform) for k in ("before_first_result_s", "results_s", "after_last_result_s")},
        "floor_includes": {"audits": d0.get("audits"), "dbt_tests": len(d0.get("gold_tests") or {}), "dbt_models": len(d0.get("gold_models") or {}),
                           "failing_tests": d0.get("failing_tests"), "dagster_imported": d0.get("dagster_imported"), "dbt_imported": d0.get("dbt_imported")},
        "dbt_alone_wall_s": stats(r["dbt_alone"]["wall_s"] for r in ok if (r.get("dbt_alone") or {}).get("returncode") == 0),
        "dbt_alone_ratio": stats(r["dbt_alone"]["wall_s"] / r["floor"]["wall_s"] for r in ok
                                 if (r.get("dbt_alone") or {}).get("returncode") == 0),
        "load_avg": stats(r["load_at_start"] for r in reps),
        "runs": reps,
    }


def run_all(ctx: Context, sizes: list[int], tiny: int, seed: int, reps_for, second: bool = True) -> dict:
    """Every size (the tiny one first); returns the section, with `warm_sample` for START-UP."""
    all_sizes = ([tiny] if tiny else []) + [s for s in sizes if s != tiny]
    for n in all_sizes:  # all data first: generation is no part of any figure
        dataset(ctx.work, n, seed, log=ctx.log)
    smallest = dataset(ctx.work, min(all_sizes), seed, log=ctx.log)["dir"]
    ctx.log("warm-up run (not measured) ...")
    warm = ctx.materialize(smallest, ctx.runs / "home-warmup", ctx.runs / "logs" / "warmup.log", fresh=True)
    if warm["returncode"] != 0:
        raise RuntimeError(f"the warm-up `materialize --all` failed; see {warm['log']}")
    manifest = ctx.compile_manifest(smallest)
    result = {"manifest": str(manifest), "warm_sample": smallest, "sizes": []}
    for n in all_sizes:
        ctx.log(f"size {n:,} customers: {reps_for(n)} repetitions")
        result["sizes"].append(bench_size(ctx, n, seed, reps_for(n), manifest, second=second, dbt_alone=n == min(all_sizes)))
    return result


def _sum_steps(s: dict, wanted: str):
    parts = [v for k, v in s["platform_steps"].items() if layer(k) in wanted.split() and v]
    return {k: sum(p[k] for p in parts) for k in ("median", "min", "max")} | {"n": parts[0]["n"]} if parts else None


def _get(fn, s):
    try:
        return fn(s)
    except (KeyError, TypeError):
        return None


def render(section: dict) -> str:
    sizes = section["sizes"]
    out = ["THROUGHPUT  `clawdata dagster materialize --all` (embedded default: SQLite instance, in-process executor) vs the floor",
           table([[size_label(s["customers"]), f"{sum((s['rows'] or {}).values()):,}", f"{(s['input_bytes'] or 0) / 1e6:,.0f}",
                   f"{s['reps_ok']}/{s['reps']}", f(s["platform_wall_s"]),
                   f(s["floor_wall_s"], 2 if s["floor_wall_s"] and s["floor_wall_s"]["median"] < 10 else 1),
                   f(s["ratio_wall"], 2, "x"), f(s["ratio_cpu"], 2, "x"), f(s["overhead_per_asset_s"], 2),
                   f"{med(s['platform_peak_tree_rss_mb'], 0)} / {med(s['floor_peak_rss_mb'], 0)}"] for s in sizes],
                 ["customers", "input rows", "MB", "reps", "platform s", "floor s", "ratio (wall)", "ratio (cpu)",
                  "overhead/asset s", "peak MB plat/floor"])]
    inc = sizes[0]["floor_includes"]
    audits = {None: "NO", False: "NO", True: "the"}.get(inc.get("audits"), inc.get("audits"))  # (True: older result files)
    out.append(f"floor = one DuckDB process, clawdata's own SQL: bronze reads + {audits} bronze/silver audits + silver"
               f" SQL + {inc.get('dbt_models')} dbt models + {inc.get('dbt_tests')} dbt tests (compiled SQL of `dbt compile`), the same"
               " write-audit-publish swaps; without the ledger and change logs, Dagster's metadata, dbt's bookkeeping and the replica"
               f" publish (the platform's last step); imports dagster: {inc.get('dagster_imported')}, dbt: {inc.get('dbt_imported')}.")
    if inc.get("failing_tests"):
        out.append(f"  (dbt tests returning rows on this data, warn severity in the project: {'; '.join(inc['failing_tests'])})")
    out.append("overhead/asset = (platform - floor) / assets materialized. Peak MB: RSS summed over the process tree, sampled every"
               " 0.1 s; the largest single process is in the JSON. Processes run with a warm bytecode cache (PYTHONPYCACHEPREFIX under"
               " benchmarks/.work), as in the images; the cost without one: START-UP.")
    for s in sizes:
        if s.get("dbt_alone_ratio"):
            out.append(f"dbt alone at {size_label(s['customers'])}: a bare `dbt build --full-refresh` of the same project on the"
                       f" platform's bronze and silver (a copy) takes {f(s['dbt_alone_wall_s'], 1, ' s')}, {f(s['dbt_alone_ratio'], 2, 'x')}"
                       f" the floor: the part of the full run's ratio that is dbt's own")
    big = sizes[-1]
    out.append(f"peak memory at {size_label(big['customers'])}: platform {f(big['platform_peak_tree_rss_mb'], 0, ' MB')} (tree), "
               f"largest process {f(big['platform_peak_process_rss_mb'], 0, ' MB')}; floor {f(big['floor_peak_rss_mb'], 0, ' MB')}")
    for s in sizes:
        if s["full_runs_reused_assets"]:
            out.append(f"WARNING: a full run at {size_label(s['customers'])} reused {', '.join(s['full_runs_reused_assets'])}: not a full rebuild")
    phases = [
        ("process start-up (imports, definitions, instance)", lambda s: s["platform_phases"]["startup_s"]),
        ("run creation (run record, planned events)", lambda s: s["platform_phases"]["run_creation_s"]),
        ("bronze + silver steps", lambda s: _sum_steps(s, "bronze silver")),
        ("  floor: bronze + silver", lambda s: add(s["floor_phases"]["bronze"], s["floor_phases"]["silver"])),
        ("gold step (dbt build, in-process)", lambda s: _sum_steps(s, "gold")),
        ("  until dbt's first node result (plan, parse, start)", lambda s: s["dbt"]["before_first_result_s"]),
        ("  dbt's node results, first to last", lambda s: s["dbt"]["results_s"]),
        ("  after the last result", lambda s: s["dbt"]["after_last_result_s"]),
        ("  floor: models + tests", lambda s: add(s["floor_phases"]["gold_models"], s["floor_phases"]["gold_tests"])),
        ("replica publish step", lambda s: _sum_steps(s, "replica")),
        ("between steps", lambda s: s["platform_phases"]["between_steps_s"]),
        ("shutdown (after run success)", lambda s: s["platform_phases"]["shutdown_s"]),
    ]
    rows = [[label, *(med(_get(get, s), 2) for s in sizes)] for label, get in phases]
    rows.append(["total platform / floor", *(f"{med(s['platform_wall_s'])} / {med(s['floor_wall_s'], 2)}" for s in sizes)])
    out += ["", "WHERE THE PLATFORM'S TIME GOES  (median seconds of the full runs, from each run's event log)",
            table(rows, ["phase", *(size_label(s["customers"]) for s in sizes)])]
    return "\n".join(out)
