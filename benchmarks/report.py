"""The machine description, the printed table and the targets."""

import os
import platform
import subprocess
import sys
from importlib import metadata

# The targets and Dagster's examples/deploy_docker measured on this machine kind.
TARGET_RATIO_10M = 1.5
TARGET_START_S = 10.0
TARGET_LAUNCH_S = 4.0
TARGET_USER_CODE_MB = 450
TARGET_DAGSTER_MB = 400
REFERENCE = "Dagster examples/deploy_docker on this machine kind: cold start 14.7 s, run launch to success 6.7 s median, images 419 MB / 493 MB"


def machine() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = next(int(l.split()[1]) for l in f if l.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for dist in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "duckdb"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    docker = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True)
    info = {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker_engine": docker.stdout.strip() if docker.returncode == 0 else None,
        "versions": versions,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    info["summary"] = (
        f"{info['nproc']} CPUs ({cpu}), {info['memory_gib']} GiB RAM, Linux {info['kernel']}, Python {info['python']}, "
        f"load {info['load_avg_at_start'][0]:.1f} at start"
    )
    return info


# ---- formatting ----------------------------------------------------------------------------------

def f(s: dict | None, digits: int = 1, unit: str = "") -> str:
    """median [min-max]"""
    if not s:
        return "-"
    m, lo, hi = s["median"], s["min"], s["max"]
    if s.get("n", 1) == 1 or lo == hi:
        return f"{m:.{digits}f}{unit}"
    return f"{m:.{digits}f}{unit} [{lo:.{digits}f}-{hi:.{digits}f}]"


def med(s: dict | None, digits: int = 1) -> str:
    return "-" if not s else f"{s['median']:.{digits}f}"


def size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def reuse_text(r: dict | None) -> str:
    if not r:
        return "-"
    if not r["reuse_flag_present"]:
        return f"nothing skipped: {r['materialized']} assets rebuilt (no `reused` metadata)"
    parts = [f"{len(r['reused'])}/{r['materialized']} assets reused"]
    if r["rebuilt"]:
        parts.append("rebuilt: " + ", ".join(r["rebuilt"]))
    parts.append("dbt not run" if not r["dbt_ran"] else "dbt ran")
    parts.append(f"{r['check_evaluations']} check results")
    return "; ".join(parts)


def render(result: dict) -> str:
    out = []
    m = result["machine"]
    out.append(f"clawdata benchmarks  {result['timestamp']}")
    out.append(f"machine: {m['summary']}")
    out.append(f"versions: {', '.join(f'{k} {v}' for k, v in m['versions'].items())}; docker engine {m.get('docker_engine')}")
    out.append("Each figure: median [min-max] over the repetitions. ratio = platform / floor within the same repetition.")
    thr = result.get("throughput")
    if thr and thr.get("sizes"):
        sizes = thr["sizes"]
        out.append("")
        out.append("THROUGHPUT  `clawdata dagster materialize --all` (embedded default: SQLite instance, in-process executor) vs the floor")
        rows = []
        for s in sizes:
            rows.append([
                size_label(s["customers"]),
                f"{sum((s['rows'] or {}).values()):,}",
                f"{(s['input_bytes'] or 0) / 1e6:,.0f}",
                f"{s['reps_ok']}/{s['reps']}",
                f(s["platform_wall_s"]),
                f(s["floor_wall_s"], 2 if s["floor_wall_s"] and s["floor_wall_s"]["median"] < 10 else 1),
                f(s["ratio_wall"], 2, "x"),
                f(s["ratio_cpu"], 2, "x"),
                f(s["overhead_per_asset_s"], 2),
                f"{med(s['platform_peak_tree_rss_mb'], 0)} / {med(s['floor_peak_rss_mb'], 0)}",
            ])
        out.append(table(rows, ["customers", "input rows", "MB", "reps", "platform s", "floor s", "ratio (wall)", "ratio (cpu)",
                                 "overhead/asset s", "peak MB plat/floor"]))
        inc = sizes[0]["floor_includes"]
        out.append(
            f"floor = one DuckDB process: bronze reads (same SELECT) + {'bronze/silver audits' if inc.get('audits') else 'NO audits'}"
            f" + silver SQL + {inc.get('dbt_models')} dbt models + {inc.get('dbt_tests')} dbt tests (compiled SQL from `dbt compile`),"
            " same write-audit-publish swaps; excludes Dagster's metadata queries and dbt's bookkeeping;"
            f" imports dagster: {inc.get('dagster_imported')}, dbt: {inc.get('dbt_imported')}."
        )
        if inc.get("failing_tests"):
            out.append(f"  (dbt tests returning rows on this data, warn severity in the project: {'; '.join(inc['failing_tests'])})")
        out.append("overhead/asset = (platform - floor) / 9 assets. Peak MB: RSS summed over the process tree, sampled from /proc every"
                   " 0.1 s (dbt included); the largest single process is in the JSON.")
        out.append("Processes run with a warm bytecode cache (PYTHONPYCACHEPREFIX under benchmarks/.work; PYTHONDONTWRITEBYTECODE unset),"
                   " as on a machine where it is not set and as in the images; the cost without one is under START-UP COSTS.")
        big = sizes[-1]
        out.append(f"peak memory at {size_label(big['customers'])}: platform {f(big['platform_peak_tree_rss_mb'], 0, ' MB')} (tree), "
                   f"largest process {f(big['platform_peak_process_rss_mb'], 0, ' MB')}; floor {f(big['floor_peak_rss_mb'], 0, ' MB')}")
        bad = [s for s in sizes if s["full_runs_reused_assets"]]
        if bad:
            out.append("WARNING: a full run reused assets (" + ", ".join(bad[0]["full_runs_reused_assets"]) + "): its figure is not a full rebuild")
        if any(s["reps"] < 3 for s in sizes):
            out.append("repetitions: " + ", ".join(f"{size_label(s['customers'])} {s['reps']}" for s in sizes))

        out.append("")
        out.append("WHERE THE PLATFORM'S TIME GOES  (median seconds of the full runs, from each run's event log and dbt's log)")
        keys = [
            ("process start-up (imports, definitions, instance)", lambda s: s["platform_phases"]["startup_s"]),
            ("run creation (run record, planned events)", lambda s: s["platform_phases"]["run_creation_s"]),
            ("bronze + silver steps (6)", lambda s: _sum_steps(s, lambda k: k.startswith(("raw_", "slv_")))),
            ("  floor: bronze + silver", lambda s: _add(s["floor_phases"]["bronze"], s["floor_phases"]["silver"])),
            ("gold step (dbt build)", lambda s: s["platform_steps"].get("gold_models")),
            ("  before dbt logs (dbt --version, adapter, start-up)", lambda s: s["dbt"]["before_dbt_s"]),
            ("  dbt parse", lambda s: s["dbt"]["parse_s"]),
            ("  dbt models + tests", lambda s: s["dbt"]["nodes_s"]),
            ("  after dbt (row counts, 61 node events)", lambda s: s["dbt"]["after_dbt_s"]),
            ("  floor: models + tests", lambda s: _add(s["floor_phases"]["gold_models"], s["floor_phases"]["gold_tests"])),
            ("between steps", lambda s: s["platform_phases"]["between_steps_s"]),
            ("shutdown (after run success)", lambda s: s["platform_phases"]["shutdown_s"]),
            ("total platform / floor", lambda s: None),
        ]
        rows = []
        for label, get in keys:
            if label.startswith("total"):
                rows.append([label, *(f"{med(s['platform_wall_s'])} / {med(s['floor_wall_s'], 2)}" for s in sizes)])
                continue
            rows.append([label, *(med(_safe(get, s), 2) for s in sizes)])
        out.append(table(rows, ["phase", *(size_label(s["customers"]) for s in sizes)]))
        pp = sorted({str(x) for s in sizes for x in s["dbt"]["partial_parse"]})
        out.append(f"dbt partial parse used: {', '.join(pp)}" + (f"; reparse reasons: {sizes[0]['dbt']['reparse_reasons']}" if sizes[0]["dbt"]["reparse_reasons"] else ""))

        comps = thr.get("components")
        if comps:
            out.append("")
            out.append("START-UP COSTS MEASURED ALONE  (median wall s / cpu s)")
            out.append("  " + "; ".join(f"{k} {med(v['wall_s'], 2)} / {med(v['cpu_s'], 2)}" for k, v in comps.items()))

        out.append("")
        out.append("INCREMENTAL  a second `materialize --all` on the same warehouse and instance, inputs unchanged")
        rows = []
        for s in sizes:
            rows.append([size_label(s["customers"]), f(s["platform_wall_s"]), f(s["second_wall_s"]), f(s["second_over_full"], 2, "x"),
                         reuse_text(s["second_reuse"])])
        out.append(table(rows, ["customers", "full s", "second s", "second/full", "what is skipped"]))
        r = sizes[-1]["second_reuse"]
        if r and r["reuse_flag_present"]:
            out.append(
                f"  how: every materialization carries a code version ({r['with_code_version']}/{r['materialized']}) and a data version"
                f" ({r['with_data_version']}/{r['materialized']}); bronze's data version is set by the asset (fingerprint of its input"
                f" files and code, {r['data_version_from_code']} assets), silver's and gold's are derived by Dagster from code version"
                " + input data versions. A step whose recorded provenance equals the current one keeps its table (audits re-run on it);"
                " gold skips `dbt build` altogether (dbt tests not re-run). Unskipped: process start-up, run creation, per-step work.")
            sp = sizes[-1]["second_phases"]
            out.append(f"  second run at {size_label(sizes[-1]['customers'])}: start-up {med(sp['startup_s'])} s, run creation "
                       f"{med(sp['run_creation_s'])} s, execution {med(sp['execution_s'])} s, shutdown {med(sp['shutdown_s'])} s")

    if thr and any(s.get("replica") for s in thr.get("sizes", [])):
        from benchmarks import replica

        out.append("")
        out.append(replica.render([{"customers": s["customers"], **s["replica"]} for s in thr["sizes"] if s.get("replica")]))

    if result.get("deliveries"):
        from benchmarks import deliveries

        out.append("")
        out.append(deliveries.render(result["deliveries"]))

    st = result.get("stack")
    if st:
        out.append("")
        out.append("STACK  Docker Compose, DockerRunLauncher, images already built")
        if st.get("skipped"):
            out.append(f"  skipped: {st['skipped']}")
        else:
            if st.get("error"):
                out.append(f"  ERROR: {st['error']}")
            sm = st.get("summary") or {}
            out.append(f"  stack {st['stack']} (build, cached: {st.get('build_s', 0):.0f} s)")
            rows = [
                ["first start, fresh volumes", f(sm.get("first_start_healthy_s")), f(sm.get("first_start_loaded_s"))],
                [f"restart after down ({(sm.get('restart_healthy_s') or {}).get('n', 0)}x)", f(sm.get("restart_healthy_s")), f(sm.get("restart_loaded_s"))],
            ]
            out.append(table(rows, ["`compose up -d --wait`", "to healthy s", "to code location loaded s"]))
            svc = sm.get("restart_services") or {}
            if svc:
                out.append("  restart timeline (median s after `up`): " + "; ".join(
                    f"{name} " + ", ".join(f"{k[:-2]} {med(v)}" for k, v in d.items() if v) for name, d in svc.items()))
            svc = sm.get("first_start_services") or {}
            if svc:
                out.append("  first start timeline (s after `up`):     " + "; ".join(
                    f"{name} " + ", ".join(f"{k[:-2]} {med(v)}" for k, v in d.items() if v) for name, d in svc.items()))
            hc = {}
            for start in st.get("starts") or []:
                for svc, v in (start.get("healthcheck_s") or {}).items():
                    hc.setdefault(svc, []).append(v["median"])
            if hc:
                out.append("  healthcheck command duration (median s): " + "; ".join(f"{svc} {sorted(v)[len(v) // 2]:.2f}" for svc, v in sorted(hc.items())))
            init = st.get("initial_runs")
            if init and init.get("runs"):
                out.append(f"  after the first start: waited {init['waited_s']:.0f} s for {len(init['runs'])} run(s) the stack started by itself"
                           f" ({', '.join(sorted(set(init['runs'].values())))}: the inbox sensor's first tick fills a fresh deployment);"
                           " restarts and launches are measured with no run active")
            out.append("")
            rows = [["queue -> start (run's startTime - enqueued)", f(sm.get("launch_queue_to_start_s"), 2)],
                    ["submit -> success (run's endTime - client submit)", f(sm.get("launch_submit_to_success_s"), 2)],
                    ["submit -> success seen by a 50 ms poll", f(sm.get("launch_submit_to_seen_s"), 2)]]
            order = ["submit", "enqueued", "dequeued", "starting", "started", "success"]
            segments = sorted((sm.get("launch_segments_s") or {}).items(),
                              key=lambda kv: order.index(kv[0].split("->")[0]) if kv[0].split("->")[0] in order else 99)
            rows += [[f"  segment {k}", f(v, 2)] for k, v in segments]
            out.append(table(rows, [f"run launch of raw_products: {sm.get('launches_ok', 0)} runs after 1 warm-up", "s"]))
            la = sm.get("launch_load_avg")
            out.append(f"  load average during the launches: {f(la)}; launches overlapping another run: {sm.get('launches_overlapping_other_runs', 0)}"
                       " (each launch waits until no run is active)")
            images = st.get("images") or {}
            if images:
                out.append("")
                out.append("  images (docker image inspect .Size, MB): " + "; ".join(f"{k} {v['mb']:.0f} ({v['image']})" for k, v in images.items()))
                for label in ("user_code", "dagster (webserver, daemon)"):
                    big = (images.get(label) or {}).get("largest")
                    if big:
                        out.append(f"  largest in {label}: " + ", ".join(f"{b['path']} {b['mb']:.0f}" for b in big))

    out.append("")
    out.append("TARGETS  (reported, never asserted)")
    out.append(table(targets(result), ["target", "measured", "verdict"]))
    out.append(REFERENCE)
    return "\n".join(out)


def _safe(get, s):
    try:
        return get(s)
    except (KeyError, TypeError):
        return None


def _add(a, b):
    if not a or not b:
        return None
    return {"median": a["median"] + b["median"], "min": a["min"] + b["min"], "max": a["max"] + b["max"], "n": a.get("n")}


def _sum_steps(s, pred):
    parts = [v for k, v in s["platform_steps"].items() if pred(k) and v]
    if not parts:
        return None
    return {k: sum(p[k] for p in parts) for k in ("median", "min", "max")} | {"n": parts[0]["n"]}


def targets(result: dict) -> list[list[str]]:
    rows = []

    def verdict(value, limit):
        return "-" if value is None else ("meets" if value <= limit else "MISSES")

    sizes = (result.get("throughput") or {}).get("sizes") or []
    ten_m = next((s for s in sizes if s["customers"] == 10_000_000), None)
    big = ten_m or (sizes[-1] if sizes else None)
    if big and big["ratio_wall"]:
        label = size_label(big["customers"]) + ("" if ten_m else " (10M not run)")
        rows.append([f"overhead at 10M <= {TARGET_RATIO_10M}x the floor ({label})",
                     f"{big['ratio_wall']['median']:.2f}x wall, {big['ratio_cpu']['median']:.2f}x cpu" if big["ratio_cpu"] else f"{big['ratio_wall']['median']:.2f}x",
                     verdict(big["ratio_wall"]["median"], TARGET_RATIO_10M)])
    sm = ((result.get("stack") or {}).get("summary")) or {}
    for label, key in (("first start (fresh volumes) to healthy+loaded < 10 s", "first_start_loaded_s"),
                       ("restart (volumes kept) to healthy+loaded < 10 s", "restart_loaded_s")):
        s = sm.get(key)
        rows.append([label, f"{s['median']:.1f} s" if s else "not run", verdict(s and s["median"], TARGET_START_S)])
    s = sm.get("launch_submit_to_success_s")
    rows.append(["trivial run submit to success < 4 s median", f"{s['median']:.2f} s" if s else "not run", verdict(s and s["median"], TARGET_LAUNCH_S)])
    images = (result.get("stack") or {}).get("images") or {}
    for label, key, limit in (("user-code image < 450 MB", "user_code", TARGET_USER_CODE_MB),
                              ("webserver/daemon image < 400 MB", "dagster (webserver, daemon)", TARGET_DAGSTER_MB)):
        i = images.get(key)
        rows.append([label, f"{i['mb']:.0f} MB" if i else "not run", verdict(i and i["mb"], limit)])
    from benchmarks import deliveries

    return rows + deliveries.targets(result.get("deliveries"))
