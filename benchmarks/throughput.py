"""Throughput: `clawdata dagster materialize --all` on the embedded default against the floor.

For each size: a fresh DAGSTER_HOME; per repetition a fresh warehouse file, then
  platform  `.venv/bin/clawdata dagster materialize --all` (the real CLI, a subprocess)
  second    the same command again on the same warehouse and home, inputs unchanged (incremental)
  floor     `python -m benchmarks.floor`: the same SQL in one DuckDB process (see floor.py)
in alternating order (platform first on even repetitions, floor first on odd ones), so a drift in the
machine's load hits both sides. The ratio platform / floor is taken within each repetition.

The dbt project is run from a copy under benchmarks/.work/project (CLAWDATA_PROJECT_DIR), so that the
per-run dbt target folders and the manifest prepared at first load stay out of the checkout, and
another engineer's edit of dbt/ during a benchmark cannot re-prepare the manifest under it. The
warehouse path is the same file name for every platform run (deleted before each full run): dbt's
partial parsing is only valid for the warehouse path it was prepared with (the path is part of the
dbt profile), as for a user whose warehouse path does not change.

After the runs, each run's event log is read back (DagsterInstance) to split its wall time into
phases: process start-up (imports, definitions, instance) until the run is created, run creation
(planned events), execution (steps, and the gaps between them), and shutdown; the gold step is split
further with dbt's own log and run_results.json.
"""

import json
import os
import re
import shutil
import sys
from datetime import datetime
from pathlib import Path

from benchmarks import measure
from benchmarks.datasets import dataset

ASSETS = 9  # raw_* x3, slv_* x3, dbt models x3


class Context:
    def __init__(self, repo: Path, work: Path, log=print):
        self.repo, self.work, self.log = repo, work, log
        self.bin = Path(sys.executable).parent
        self.clawdata = str(self.bin / "clawdata")
        self.project = work / "project"
        self.runs = work / "runs"
        self.inbox = work / "inbox"  # always empty: only the sample files are read

    def prepare(self) -> None:
        """A fresh copy of the dbt project (no target/, no logs/) and an empty inbox."""
        shutil.rmtree(self.project, ignore_errors=True)
        shutil.copytree(
            self.repo / "dbt", self.project / "dbt", ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")
        )
        shutil.rmtree(self.inbox, ignore_errors=True)
        self.inbox.mkdir(parents=True)
        shutil.rmtree(self.runs, ignore_errors=True)
        self.runs.mkdir(parents=True)

    def env(self, sample_dir: str, warehouse: Path, home: Path | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDATA_", "DAGSTER_", "DBT_", "PYTHONPYCACHE"))}
        # A bytecode cache, as on any machine where PYTHONDONTWRITEBYTECODE is not set (and as in the
        # images, which are built with compiled bytecode); kept under .work so the venv is not touched.
        # Without it every process compiles Dagster and dbt from source: see component_costs.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            CLAWDATA_PROJECT_DIR=str(self.project),
            CLAWDATA_SAMPLE_DIR=sample_dir,
            CLAWDATA_INBOX_DIR=str(self.inbox),
            CLAWDATA_WAREHOUSE_PATH=str(warehouse),
            PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
            PYTHONPYCACHEPREFIX=str(self.work / "pycache"),
        )
        if home is not None:
            env["DAGSTER_HOME"] = str(home)
        return env


def _fresh_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def _run_id(log: str) -> str | None:
    match = re.search(r"^run ([0-9a-f-]{36})", Path(log).read_text(errors="replace"), re.M)
    return match.group(1) if match else None


def platform_run(ctx: Context, sample_dir: str, warehouse: Path, home: Path, log: Path, fresh: bool) -> dict:
    if fresh:
        _fresh_file(warehouse)
    m = measure.run([ctx.clawdata, "dagster", "materialize", "--all"], ctx.env(sample_dir, warehouse, home), log, cwd=ctx.work)
    out = m.as_dict()
    out["run_id"] = _run_id(m.log)
    if m.returncode != 0:
        ctx.log(f"  ! materialize exited {m.returncode}; see {m.log}")
    return out


def floor_run(ctx: Context, sample_dir: str, manifest: Path, warehouse: Path, log: Path) -> dict:
    _fresh_file(warehouse)
    result = log.with_suffix(".json")
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.floor", "--manifest", str(manifest), "--warehouse", str(warehouse), "--out", str(result)]
    m = measure.run(cmd, {**ctx.env(sample_dir, warehouse), "PYTHONPATH": str(ctx.repo)}, log, cwd=ctx.repo)
    out = m.as_dict()
    if m.returncode != 0 or not result.exists():
        ctx.log(f"  ! floor exited {m.returncode}; see {m.log}")
        return out
    out["detail"] = json.loads(result.read_text())
    return out


def compile_manifest(ctx: Context, sample_dir: str, warehouse: Path, target: Path | None = None) -> Path:
    """`dbt compile` of the project copy into its own target folder; returns its manifest.json."""
    target = target or ctx.work / "floor-dbt-target"
    shutil.rmtree(target, ignore_errors=True)
    dbt_dir = ctx.project / "dbt"
    cmd = [
        str(ctx.bin / "dbt"), "compile", "--project-dir", str(dbt_dir), "--profiles-dir", str(dbt_dir),
        "--target-path", str(target), "--log-path", str(target),
    ]
    m = measure.run(cmd, ctx.env(sample_dir, warehouse), ctx.runs / "dbt-compile.log", cwd=dbt_dir)
    manifest = target / "manifest.json"
    if m.returncode != 0 or not manifest.exists():
        raise RuntimeError(f"dbt compile failed (exit {m.returncode}); see {m.log}")
    return manifest


# ---- reading the runs back ------------------------------------------------------------------------

def _iso(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def dbt_phases(ctx: Context, run_id: str) -> dict | None:
    """From the run's dbt target folder: dbt's start, parse, node execution; partial parse or not."""
    folders = sorted((ctx.project / "dbt" / "target").glob(f"gold_models-{run_id[:7]}-*"))
    if not folders:
        return None
    folder = folders[-1]
    log = folder / "dbt.log"
    if not log.exists():
        return {"ran": False}
    first = found = last = None
    partial, reason = True, None
    for line in log.read_text(errors="replace").splitlines():
        try:
            info = json.loads(line)["info"]
        except (ValueError, KeyError):
            continue
        ts = _iso(info["ts"])
        first = first or ts
        last = ts
        if info["name"] == "FoundStats":
            found = ts
        if info["name"] in ("UnableToPartialParse", "PartialParsingNotEnabled"):
            partial, reason = False, info.get("msg")
    out = {"ran": True, "dbt_first_log": first, "parse_done": found, "dbt_last_log": last, "partial_parse": partial, "reparse_reason": reason}
    results = folder / "run_results.json"
    if results.exists():
        r = json.loads(results.read_text())
        out["dbt_elapsed_s"] = r.get("elapsed_time")
        by_type: dict[str, float] = {}
        for res in r["results"]:
            kind = res["unique_id"].split(".")[0]
            by_type[kind] = by_type.get(kind, 0.0) + (res.get("execution_time") or 0.0)
        out["execution_s"] = by_type
        out["nodes"] = len(r["results"])
    return out


def inspect_runs(ctx: Context, home: Path, runs: list[dict]) -> None:
    """Add `phases`, `steps` and `materializations` to each platform run dict, from its event log."""
    from dagster import DagsterInstance  # only here: the harness needs Dagster to read the runs

    with DagsterInstance.from_config(str(home)) as instance:
        for run in runs:
            if not run.get("run_id"):
                continue
            record = instance.get_run_record_by_id(run["run_id"])
            if record is None:
                continue
            logs = instance.all_logs(run["run_id"])
            created = record.create_timestamp.timestamp()
            first_event = logs[0].timestamp if logs else created
            marks, steps, mats, checks, skipped = {}, {}, [], 0, 0
            for entry in logs:
                event = entry.dagster_event
                if event is None:
                    continue
                kind = event.event_type_value
                if kind in ("PIPELINE_START", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
                    marks[kind] = entry.timestamp
                elif kind == "STEP_START":
                    steps[event.step_key] = {"start": entry.timestamp}
                elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in steps:
                    steps[event.step_key]["end"] = entry.timestamp
                elif kind == "STEP_SKIPPED":
                    skipped += 1
                elif kind == "ASSET_CHECK_EVALUATION":
                    checks += 1
                elif kind == "ASSET_MATERIALIZATION":
                    materialization = event.event_specific_data.materialization
                    reused = materialization.metadata.get("reused")
                    tags = materialization.tags or {}
                    mats.append({
                        "asset": event.asset_key.to_user_string(),
                        "reused": getattr(reused, "value", reused),
                        "code_version": tags.get("dagster/code_version"),
                        "data_version": tags.get("dagster/data_version"),
                        "data_version_user_provided": tags.get("dagster/data_version_is_user_provided") == "true",
                    })
            start = marks.get("PIPELINE_START")
            end = marks.get("PIPELINE_SUCCESS") or marks.get("PIPELINE_FAILURE")
            step_s = {k: v["end"] - v["start"] for k, v in steps.items() if "end" in v}
            phases = {
                "startup_s": created - run["started_at"],  # python, imports, definitions, instance
                "run_creation_s": (start - created) if start else None,  # run record and planned events
                "execution_s": (end - start) if start and end else None,
                "steps_s": sum(step_s.values()),
                "between_steps_s": (end - start - sum(step_s.values())) if start and end else None,
                "shutdown_s": (run["ended_at"] - end) if end else None,
            }
            run["phases"] = phases
            run["steps"] = step_s
            run["step_times"] = steps  # epoch start and end of each step
            run["events"] = len(logs)
            run["planned_events_s"] = (start - first_event) if start else None
            run["materializations"] = mats
            run["check_evaluations"] = checks
            run["steps_skipped"] = skipped
            dbt = dbt_phases(ctx, run["run_id"])
            if dbt and "gold_models" in steps:
                gold = steps["gold_models"]
                if dbt.get("ran") and dbt.get("dbt_first_log"):
                    dbt["before_dbt_s"] = dbt["dbt_first_log"] - gold["start"]  # dbt --version, adapter, dbt start-up
                    dbt["parse_s"] = (dbt["parse_done"] - dbt["dbt_first_log"]) if dbt.get("parse_done") else None
                    dbt["nodes_s"] = (dbt["dbt_last_log"] - dbt["parse_done"]) if dbt.get("parse_done") else None
                    dbt["after_dbt_s"] = (gold["end"] - dbt["dbt_last_log"]) if "end" in gold else None
            run["dbt"] = dbt


def _reuse_summary(run: dict) -> dict:
    mats = run.get("materializations") or []
    reused = [m["asset"] for m in mats if m.get("reused") is True]
    rebuilt = [m["asset"] for m in mats if m.get("reused") is not True]
    flags_seen = any(m.get("reused") is not None for m in mats)
    return {
        "materialized": len(mats),
        "reused": reused,
        "rebuilt": rebuilt,
        "reuse_flag_present": flags_seen,
        "with_code_version": sum(1 for m in mats if m.get("code_version")),
        "with_data_version": sum(1 for m in mats if m.get("data_version")),
        "data_version_from_code": sum(1 for m in mats if m.get("data_version_user_provided")),
        "check_evaluations": run.get("check_evaluations"),
        "steps_skipped": run.get("steps_skipped"),
        "dbt_ran": bool((run.get("dbt") or {}).get("ran")),
    }


# ---- one size ------------------------------------------------------------------------------------

def bench_size(ctx: Context, customers: int, seed: int, reps: int, manifest: Path, incremental: bool = True) -> dict:
    data = dataset(ctx.work, customers, seed, log=ctx.log)
    sample = data["dir"]
    home = ctx.runs / f"home-{customers}"
    shutil.rmtree(home, ignore_errors=True)
    warehouse = ctx.runs / "platform" / "warehouse.duckdb"
    floor_wh = ctx.runs / "floor" / "warehouse.duckdb"
    reps_out = []
    for i in range(reps):
        rep = {"rep": i, "load_at_start": measure.loadavg()}
        logs = ctx.runs / "logs" / f"{customers}-rep{i}"

        def do_platform():
            rep["platform"] = platform_run(ctx, sample, warehouse, home, logs / "platform.log", fresh=True)
            if incremental and rep["platform"]["returncode"] == 0:
                rep["second"] = platform_run(ctx, sample, warehouse, home, logs / "second.log", fresh=False)

        def do_floor():
            rep["floor"] = floor_run(ctx, sample, manifest, floor_wh, logs / "floor.log")

        for step in ((do_platform, do_floor) if i % 2 == 0 else (do_floor, do_platform)):
            step()
        p, f = rep["platform"], rep["floor"]
        ok = p["returncode"] == 0 and f["returncode"] == 0
        rep["ok"] = ok
        rep["ratio_wall"] = p["wall_s"] / f["wall_s"] if ok else None
        rep["ratio_cpu"] = p["cpu_s"] / f["cpu_s"] if ok and f["cpu_s"] else None
        rep["overhead_per_asset_s"] = (p["wall_s"] - f["wall_s"]) / ASSETS if ok else None
        if "second" in rep and rep["second"]["returncode"] == 0:
            rep["second_over_full"] = rep["second"]["wall_s"] / p["wall_s"]
        ctx.log(
            f"  {customers:>10,} rep {i + 1}/{reps}: platform {p['wall_s']:7.1f} s (cpu {p['cpu_s']:6.1f}), "
            f"floor {f['wall_s']:7.1f} s (cpu {f['cpu_s']:6.1f})"
            + (f", ratio {rep['ratio_wall']:.2f}x" if rep["ratio_wall"] else "")
            + (f"; second run {rep['second']['wall_s']:.1f} s" if "second" in rep else "")
            + f"  [load {rep['load_at_start']:.1f}]"
        )
        reps_out.append(rep)
        _fresh_file(floor_wh)

    try:
        inspect_runs(ctx, home, [r[k] for r in reps_out for k in ("platform", "second") if k in r])
    except Exception as e:  # the figures stand without the breakdown
        ctx.log(f"  ! could not read the runs back: {type(e).__name__}: {e}")
    from benchmarks import replica  # the read path's cost on this size's warehouse (REPLICA section)

    published = replica.measure_publish(warehouse, ctx.runs) if warehouse.exists() else None
    _fresh_file(warehouse)
    return {**summarize_size(customers, data, reps_out), "replica": published}


def _floor_seconds(detail: dict | None, step: str) -> float | None:
    """The floor's time for the work of one platform step (gold_models: every dbt model and test)."""
    if not detail:
        return None
    if step == "gold_models":
        return sum(detail["gold_models"].values()) + sum(detail["gold_tests"].values())
    for layer in ("bronze", "silver"):
        if step in detail[layer]:
            return detail[layer][step]["total_s"]
    return None


def summarize_size(customers: int, data: dict, reps: list[dict]) -> dict:
    ok = [r for r in reps if r["ok"]]
    S = measure.stats
    platform = [r["platform"] for r in ok]
    floor = [r["floor"] for r in ok]
    second = [r["second"] for r in ok if "second" in r and r["second"]["returncode"] == 0]
    phases = {}
    for key in ("startup_s", "run_creation_s", "execution_s", "steps_s", "between_steps_s", "shutdown_s"):
        phases[key] = S((p.get("phases") or {}).get(key) for p in platform)
    step_names = sorted({k for p in platform for k in (p.get("steps") or {})})
    steps = {k: S((p.get("steps") or {}).get(k) for p in platform) for k in step_names}
    floor_phases = {
        k: S(((f.get("detail") or {}).get("phases_s") or {}).get(k) for f in floor) for k in ("bronze", "silver", "gold_models", "gold_tests")
    }
    floor_tables = {}
    for f in floor:
        d = f.get("detail") or {}
        for layer in ("bronze", "silver"):
            for table, t in (d.get(layer) or {}).items():
                floor_tables.setdefault(table, []).append(t["total_s"])
        gold = sum((d.get("gold_models") or {}).values()) + sum((d.get("gold_tests") or {}).values())
        floor_tables.setdefault("gold_models", []).append(gold)
    per_step_overhead = {
        k: S(
            p["steps"][k] - t
            for p, f in zip(platform, floor)
            if k in (p.get("steps") or {}) and (t := _floor_seconds(f.get("detail"), k)) is not None
        )
        for k in step_names
    }
    dbt = {}
    for key in ("before_dbt_s", "parse_s", "nodes_s", "after_dbt_s"):
        dbt[key] = S((p.get("dbt") or {}).get(key) for p in platform)
    dbt["partial_parse"] = [(p.get("dbt") or {}).get("partial_parse") for p in platform]
    dbt["reparse_reasons"] = sorted({(p.get("dbt") or {}).get("reparse_reason") for p in platform} - {None})
    full_reused = sorted({m["asset"] for p in platform for m in (p.get("materializations") or []) if m.get("reused") is True})
    d0 = (floor[0].get("detail") or {}) if floor else {}
    return {
        "customers": customers,
        "rows": data.get("rows"),
        "input_bytes": data.get("bytes"),
        "reps": len(reps),
        "reps_ok": len(ok),
        "platform_wall_s": S(p["wall_s"] for p in platform),
        "platform_cpu_s": S(p["cpu_s"] for p in platform),
        "floor_wall_s": S(f["wall_s"] for f in floor),
        "floor_cpu_s": S(f["cpu_s"] for f in floor),
        "floor_sql_s": S((f.get("detail") or {}).get("sql_s") for f in floor),
        "ratio_wall": S(r["ratio_wall"] for r in ok),
        "ratio_cpu": S(r["ratio_cpu"] for r in ok),
        "overhead_s": S(r["platform"]["wall_s"] - r["floor"]["wall_s"] for r in ok),
        "overhead_per_asset_s": S(r["overhead_per_asset_s"] for r in ok),
        "platform_peak_tree_rss_mb": S(p["peak_tree_rss_mb"] for p in platform),
        "platform_peak_process_rss_mb": S(p["peak_process_rss_mb"] for p in platform),
        "floor_peak_rss_mb": S(f["peak_tree_rss_mb"] for f in floor),
        "second_wall_s": S(s["wall_s"] for s in second),
        "second_cpu_s": S(s["cpu_s"] for s in second),
        "second_over_full": S(r.get("second_over_full") for r in ok),
        "second_reuse": _reuse_summary(second[-1]) if second else None,
        "second_phases": {k: S((s.get("phases") or {}).get(k) for s in second) for k in ("startup_s", "run_creation_s", "execution_s", "shutdown_s")},
        "full_runs_reused_assets": full_reused,  # must be empty: a full run on a fresh warehouse rebuilds all
        "platform_phases": phases,
        "platform_steps": steps,
        "per_step_overhead_s": per_step_overhead,
        "floor_phases": floor_phases,
        "floor_tables": {k: S(v) for k, v in floor_tables.items()},
        "dbt": dbt,
        "floor_includes": {
            "audits": d0.get("audits_included"),
            "dbt_tests": len(d0.get("gold_tests") or {}),
            "dbt_models": len(d0.get("gold_models") or {}),
            "failing_tests": d0.get("failing_tests"),
            "dagster_imported": d0.get("dagster_imported"),
            "dbt_imported": d0.get("dbt_imported"),
        },
        "load_avg": S(r["load_at_start"] for r in reps),
        "runs": reps,
    }


def component_costs(ctx: Context, sample_dir: str, warehouse: Path, reps: int = 3) -> dict:
    """Start-up costs measured on their own: what every `materialize` pays before any data moves."""
    py = sys.executable
    dbt_dir = ctx.project / "dbt"
    target = ctx.work / "component-dbt-target"
    env = ctx.env(sample_dir, warehouse)
    empty_cache = ctx.work / "empty-pycache"
    shutil.rmtree(empty_cache, ignore_errors=True)
    no_cache = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(empty_cache)}
    dbt_args = ["--project-dir", str(dbt_dir), "--profiles-dir", str(dbt_dir), "--target-path", str(target), "--log-path", str(target)]
    probes = {
        "python_start": ([py, "-c", "pass"], env),
        "import_duckdb": ([py, "-c", "import duckdb"], env),
        "import_dagster": ([py, "-c", "import dagster"], env),
        "load_definitions": ([py, "-c", "import clawdata.definitions"], env),
        "load_definitions_no_bytecode_cache": ([py, "-c", "import clawdata.definitions"], no_cache),
        "dbt_version": ([str(ctx.bin / "dbt"), "--version"], env),
        "dbt_parse_full": ([str(ctx.bin / "dbt"), "parse", "--no-partial-parse", *dbt_args], env),
        "dbt_parse_partial": ([str(ctx.bin / "dbt"), "parse", *dbt_args], env),
    }
    out = {}
    for name, (cmd, probe_env) in probes.items():
        runs = []
        for i in range(reps):
            m = measure.run(cmd, probe_env, ctx.runs / "logs" / "components" / f"{name}-{i}.log", cwd=dbt_dir)
            if m.returncode == 0:
                runs.append(m)
        out[name] = {"wall_s": measure.stats(m.wall_s for m in runs), "cpu_s": measure.stats(m.cpu_s for m in runs)}
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(empty_cache, ignore_errors=True)
    return out


def run_all(ctx: Context, sizes: list[int], tiny: int, seed: int, reps_for, incremental: bool = True, components: bool = True) -> dict:
    ctx.prepare()
    all_sizes = ([tiny] if tiny else []) + [s for s in sizes if s != tiny]
    for n in all_sizes:  # all data first: generation is not part of any figure
        dataset(ctx.work, n, seed, log=ctx.log)
    # Warm-up (not measured): prepares the dbt manifest in the project copy, warms the page cache,
    # and leaves a built warehouse for `dbt compile`.
    smallest = dataset(ctx.work, min(all_sizes), seed, log=ctx.log)
    warm_wh = ctx.runs / "platform" / "warehouse.duckdb"
    ctx.log("warm-up run (not measured) ...")
    warm = platform_run(ctx, smallest["dir"], warm_wh, ctx.runs / "home-warmup", ctx.runs / "logs" / "warmup.log", fresh=True)
    if warm["returncode"] != 0:
        raise RuntimeError(f"the warm-up `materialize --all` failed; see {warm['log']}")
    manifest = compile_manifest(ctx, smallest["dir"], warm_wh)
    result = {"manifest": str(manifest), "sizes": []}
    if components:
        ctx.log("start-up components ...")
        result["components"] = component_costs(ctx, smallest["dir"], warm_wh)
    for n in all_sizes:
        reps = reps_for(n)
        ctx.log(f"size {n:,} customers: {reps} repetitions")
        result["sizes"].append(bench_size(ctx, n, seed, reps, manifest, incremental=incremental))
    shutil.rmtree(ctx.runs / "home-warmup", ignore_errors=True)
    return result
