"""INCREMENTAL DELIVERIES: what one small daily file costs on top of a large history.

    python -m benchmarks.run --only-deliveries --delivery-sizes 100000

The files: delivery_data.py (1,000 customers and 5,000 orders a day). Per size, one warehouse and one
DAGSTER_HOME (the embedded default; every command a subprocess, measured with measure.py):
  full      `clawdata dagster materialize --all` on a fresh warehouse (the base history)
  empty     `clawdata dagster sensor tick inbox_sensor` twice with an empty inbox: the first records
            the files present (the sensor's cursor), the second is the steady-state empty tick
  after 1   delivery 1 dropped into the inbox, one tick (it evaluates the sensor, submits the run and
            executes it in-process)
  after 30  deliveries 2..29 dropped at once and one tick (accumulation), then delivery 30, one tick
  refresh   `materialize --all --full-refresh`, where the CLI has the option
  floor     the work of delivery 1 (and of 30) in one DuckDB process, on a copy of the warehouse taken
            just before it (delivery_floor.py; the copy is setup, not timed), run before the tick
Each run is read back from its event log: bronze-to-gold (first bronze step start to the last gold
step end) apart from the fixed costs (process start-up with the sensor's evaluation, run creation,
the `warehouse_replica` publish, shutdown). The gold tables after deliveries 1 and 30 are compared
with the floor's (rows and sum of row hashes per table), which checks both.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import measure, throughput
from benchmarks.datasets import dataset
from benchmarks.delivery_data import DELIVERIES, make_deliveries

SENSOR = "inbox_sensor"
GOLD = ("dim_customers", "fct_daily_revenue", "fct_category_revenue")  # compared, platform against floor
SILVER = ("slv_customers", "slv_orders", "slv_products")  # compared too, deliveries against the full refresh
AFTER_30_TOLERANCE = 1.25  # "after 30 ~ after 1": within this factor either way
TARGET_SHARE_OF_FULL, TARGET_FLOOR_RATIO, TARGET_EMPTY_TICK_CPU_S = 0.10, 2.0, 2.0


# ---- the runs --------------------------------------------------------------------------------------

def _tick(ctx: throughput.Context, sample: str, warehouse: Path, home: Path, log: Path) -> dict:
    load = measure.loadavg()
    m = measure.run([ctx.clawdata, "dagster", "sensor", "tick", SENSOR], ctx.env(sample, warehouse, home), log, cwd=ctx.work)
    out = {**m.as_dict(), "run_id": throughput._run_id(m.log), "load_at_start": load}
    skipped = re.search(r"skipped: (.*)", Path(m.log).read_text(errors="replace"))
    out["skip_reason"] = skipped.group(1).strip() if skipped else None
    if m.returncode != 0:
        ctx.log(f"  ! sensor tick exited {m.returncode}; see {m.log}")
    return out


def _drop(ctx: throughput.Context, delivery: dict[str, Path]) -> dict[str, Path]:
    """Copy a delivery into the inbox (renamed into place: the sensor never sees half a file)."""
    dropped = {}
    for name, path in delivery.items():
        tmp = ctx.inbox / f".{path.name}.tmp"
        shutil.copyfile(path, tmp)
        dropped[name] = tmp.rename(ctx.inbox / path.name)
    return dropped


def _copy_warehouse(source: Path, target: Path) -> Path:
    shutil.rmtree(target.parent, ignore_errors=True)
    target.parent.mkdir(parents=True)
    for suffix in ("", ".wal"):
        if source.with_name(source.name + suffix).exists():
            shutil.copyfile(source.with_name(source.name + suffix), target.with_name(target.name + suffix))
    return target


def _gold_fingerprint(warehouse: Path, tables=None) -> dict | None:
    import duckdb

    from benchmarks.delivery_floor import fingerprint

    try:
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            return fingerprint(conn, tables or GOLD)
    except duckdb.Error as e:
        return {"error": str(e)}


def _floor(ctx, sample: str, manifest: Path, copy: Path, dropped: dict[str, Path], log: Path) -> dict:
    result = log.with_suffix(".json")
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.delivery_floor", "--manifest", str(manifest), "--warehouse", str(copy), "--out", str(result),
           *(arg for name, path in dropped.items() for arg in ("--file", f"{name}={path}"))]
    m = measure.run(cmd, {**ctx.env(sample, copy), "PYTHONPATH": str(ctx.repo)}, log, cwd=ctx.repo)
    out = m.as_dict()
    if m.returncode != 0 or not result.exists():
        ctx.log(f"  ! delivery floor exited {m.returncode}; see {m.log}")
    else:
        out["detail"] = json.loads(result.read_text())
    shutil.rmtree(copy.parent, ignore_errors=True)
    return out


def _layer(step: str) -> str:
    return "bronze" if step.startswith("raw_") else "silver" if step.startswith("slv_") else "replica" if step == "warehouse_replica" else "gold"


def breakdown(run: dict) -> dict:
    """Bronze-to-gold (first bronze step start to last gold step end), seconds per layer, fixed costs."""
    times, layers = run.get("step_times") or {}, {}
    for step, seconds in (run.get("steps") or {}).items():
        layers[_layer(step)] = layers.get(_layer(step), 0.0) + seconds
    starts = [t["start"] for k, t in times.items() if _layer(k) == "bronze"]
    ends = [t["end"] for k, t in times.items() if _layer(k) == "gold" and "end" in t]
    return {"bronze_to_gold_s": (max(ends) - min(starts)) if starts and ends else None, "layers_s": layers, **(run.get("phases") or {})}


def _ratio(a, b):
    return a / b if a is not None and b else None


def bench_size(ctx: throughput.Context, n: int, seed: int, manifest: Path, full_refresh: bool) -> dict:
    data = dataset(ctx.work, n, seed, log=ctx.log)
    sample = data["dir"]
    deliveries = make_deliveries(ctx.work / "deliveries" / f"customers-{n}-seed-{seed}", n, seed)
    home, warehouse, logs = ctx.runs / f"home-{n}", ctx.runs / "platform" / "warehouse.duckdb", ctx.runs / "logs" / str(n)
    for folder in (home, ctx.inbox, warehouse.parent / "replica"):
        shutil.rmtree(folder, ignore_errors=True)
    ctx.inbox.mkdir(parents=True)
    out = {"customers": n, "rows": data["rows"], "load_at_start": measure.loadavg()}
    ctx.log(f"deliveries at {n:,} customers: full run ...")
    full = out["full"] = throughput.platform_run(ctx, sample, warehouse, home, logs / "full.log", fresh=True)
    if full["returncode"] != 0:
        return {**out, "error": f"materialize --all failed; see {full['log']}"}
    out["warehouse_mb_after_full"] = warehouse.stat().st_size / 1e6
    out["empty_ticks"] = [_tick(ctx, sample, warehouse, home, logs / f"empty-tick-{i}.log") for i in (1, 2)]
    out["sensor_evaluation"] = _sensor_evaluation(ctx, sample, warehouse, home)
    platform_gold, last = {}, len(deliveries)
    for d in range(1, last + 1):
        measured = d in (1, last)
        if measured:  # setup, not timed: the warehouse before the delivery, for its floor
            copy = _copy_warehouse(warehouse, ctx.runs / "floor" / warehouse.name)
        dropped = _drop(ctx, deliveries[d - 1])
        if measured:
            floor = _floor(ctx, sample, manifest, copy, dropped, logs / f"floor-{d}.log")
            out[f"after_{d}"] = _tick(ctx, sample, warehouse, home, logs / f"delivery-{d}.log")
            out[f"after_{d}"]["floor"] = floor
            platform_gold[d] = _gold_fingerprint(warehouse)
        elif d == last - 1:  # deliveries 2..last-1, all at once
            out["accumulate"] = _tick(ctx, sample, warehouse, home, logs / f"deliveries-2-{d}.log")
    out["warehouse_mb_after_deliveries"] = warehouse.stat().st_size / 1e6
    after_deliveries = _gold_fingerprint(warehouse, GOLD + SILVER)
    if full_refresh:
        m = measure.run([ctx.clawdata, "dagster", "materialize", "--all", "--full-refresh"], ctx.env(sample, warehouse, home),
                        logs / "full-refresh.log", cwd=ctx.work)
        out["full_refresh"] = {**m.as_dict(), "run_id": throughput._run_id(m.log)}
        # The deliveries one by one against a rebuild from every file: the same silver and gold?
        out["full_refresh"]["gold_equal"] = _gold_fingerprint(warehouse, GOLD + SILVER) == after_deliveries
    else:
        out["full_refresh"] = {"skipped": "`clawdata dagster materialize` has no --full-refresh option"}
    runs = [r for r in (full, *out["empty_ticks"], out["after_1"], out["accumulate"], out[f"after_{last}"], out["full_refresh"]) if r.get("run_id")]
    try:
        throughput.inspect_runs(ctx, home, runs)
    except Exception as e:  # the walls stand without the breakdown
        ctx.log(f"  ! could not read the runs back: {type(e).__name__}: {e}")
    for run in runs:
        run["breakdown"] = breakdown(run)
    full_b2g = full["breakdown"]["bronze_to_gold_s"] if "breakdown" in full else None
    for d in (1, last):
        case = out[f"after_{d}"]
        floor_sql = (case["floor"].get("detail") or {}).get("sql_s")
        b2g = (case.get("breakdown") or {}).get("bronze_to_gold_s")
        case.update(ratio_full=_ratio(b2g, full_b2g), ratio_full_wall=_ratio(case["wall_s"], full["wall_s"]), ratio_floor=_ratio(b2g, floor_sql),
                    platform_gold=platform_gold[d],
                    matches_floor=(platform_gold[d] == (case["floor"].get("detail") or {}).get("fingerprint")) if case["returncode"] == 0 else None)
        ctx.log(f"  after {d}: tick {case['wall_s']:.1f} s (cpu {case['cpu_s']:.1f}), bronze-to-gold {b2g or 0:.2f} s,"
                f" floor {floor_sql or 0:.2f} s; gold equals the floor's: {case['matches_floor']}")
    for folder in (home, ctx.inbox):
        shutil.rmtree(folder, ignore_errors=True)
    throughput._fresh_file(warehouse)
    return out


def _sensor_evaluation(ctx: throughput.Context, sample: str, warehouse: Path, home: Path) -> dict:
    """An empty tick as the daemon pays for it: the sensor evaluated in a process that has the
    definitions loaded (the code server), from the tick's own cursor (benchmarks/sensor_cost.py)."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.sensor_cost", SENSOR], env=ctx.env(sample, warehouse, home),
                          capture_output=True, text=True, cwd=ctx.repo)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _has_full_refresh(ctx: throughput.Context, sample: str, warehouse: Path) -> bool:
    help_text = subprocess.run([ctx.clawdata, "dagster", "materialize", "--help"], env=ctx.env(sample, warehouse),
                               capture_output=True, text=True, cwd=ctx.work).stdout
    return "--full-refresh" in help_text


def run_all(repo: Path, work: Path, sizes: list[int], seed: int, log=print) -> dict:
    ctx = throughput.Context(repo, work, log=log)
    ctx.runs, ctx.inbox = work / "delivery-runs", work / "delivery-inbox"  # apart from THROUGHPUT's
    ctx.prepare()
    for n in sizes:  # all data first: generation is not part of any figure
        dataset(work, n, seed, log=log)
    tiny = dataset(work, 1000, seed, log=log)
    warehouse = ctx.runs / "platform" / "warehouse.duckdb"  # the path every size uses (dbt partial parsing)
    log("deliveries: warm-up run (not measured) ...")
    warm = throughput.platform_run(ctx, tiny["dir"], warehouse, ctx.runs / "home-warmup", ctx.runs / "logs" / "warmup.log", fresh=True)
    if warm["returncode"] != 0:
        raise RuntimeError(f"the warm-up `materialize --all` failed; see {warm['log']}")
    # Compiled against an empty warehouse of the same file name (the same catalog in the relation
    # names): the models' full SQL, whatever is_incremental() blocks they may have.
    empty = ctx.runs / "compile" / warehouse.name
    empty.parent.mkdir(parents=True, exist_ok=True)
    manifest = throughput.compile_manifest(ctx, tiny["dir"], empty, target=ctx.runs / "floor-dbt-target")
    shutil.rmtree(empty.parent, ignore_errors=True)
    from benchmarks import delivery_data as spec

    result = {
        "deliveries": DELIVERIES, "customers_per_delivery": spec.CUSTOMERS_PER_DELIVERY, "customer_update_share": spec.CUSTOMER_UPDATES,
        "orders_per_delivery": spec.ORDERS_PER_DELIVERY, "order_update_share": spec.ORDER_UPDATES, "seed": seed, "manifest": str(manifest),
        "full_refresh_option": _has_full_refresh(ctx, tiny["dir"], warehouse), "sizes": [],
    }
    for n in sizes:
        result["sizes"].append(bench_size(ctx, n, seed, manifest, result["full_refresh_option"]))
    shutil.rmtree(ctx.runs / "home-warmup", ignore_errors=True)
    return result


# ---- the report ------------------------------------------------------------------------------------

def _s(v, digits=1, unit=""):
    return "-" if v is None else f"{v:.{digits}f}{unit}"


def _case(run: dict | None, text: str) -> str:
    return text + ("" if not run or run.get("returncode", 0) == 0 else " FAILED")


def _steps_line(label: str, c: dict) -> str:
    b, dbt = c.get("breakdown") or {}, c.get("dbt") or {}
    nodes = dbt.get("execution_s") or {}
    floor = (c.get("floor") or {}).get("detail") or {}
    layers = b.get("layers_s") or {}
    return (f"  {label}: steps " + ", ".join(f"{k} {_s(layers.get(k), 2)}" for k in ("bronze", "silver", "gold", "replica"))
            + f" s (gold: dbt start-up {_s(dbt.get('before_dbt_s'), 2)}, parse {_s(dbt.get('parse_s'), 2)}, models + tests"
            f" {_s(dbt.get('nodes_s'), 2)} [{dbt.get('nodes', '-')} nodes: models {_s(nodes.get('model'), 2)}, tests {_s(nodes.get('test'), 2)}],"
            f" after dbt {_s(dbt.get('after_dbt_s'), 2)}); fixed: start-up + sensor {_s(b.get('startup_s'), 2)},"
            f" run creation {_s(b.get('run_creation_s'), 2)}, between steps {_s(b.get('between_steps_s'), 2)}, shutdown {_s(b.get('shutdown_s'), 2)};"
            f" floor: bronze {_s(floor.get('bronze_s'), 2)}, silver {_s(floor.get('silver_s'), 2)}, gold {_s(floor.get('gold_s'), 2)}"
            f" (process {_s((c.get('floor') or {}).get('wall_s'), 2)}); load {_s(c.get('load_at_start'))}; gold = floor's: {({True: 'yes', False: 'NO'}).get(c.get('matches_floor'), '-')}")


def render(section: dict) -> str:
    from benchmarks.report import size_label, table

    nc, no = section["customers_per_delivery"], section["orders_per_delivery"]
    uc, uo = round(nc * section["customer_update_share"]), round(no * section["order_update_share"])
    out = [f"INCREMENTAL DELIVERIES  one delivery = customers_dNNN.csv ({nc:,} rows: {uc:,} updates, {nc - uc:,} new) + orders_dNNN.csv"
           f" ({no:,}: {no - uo:,} new, {uo:,} updates) in the inbox, then `clawdata dagster sensor tick {SENSOR}` (embedded default:"
           " the tick evaluates the sensor, then executes the run in-process)"]
    rows, lines = [], []
    blank = ["", "", "", "", ""]
    for s in section["sizes"]:
        label, full = size_label(s["customers"]), s.get("full") or {}
        rows.append([label, _case(full, "full run (materialize --all)"), _s(full.get("wall_s")), _s(full.get("cpu_s")),
                     _s((full.get("breakdown") or {}).get("bronze_to_gold_s"), 2), *blank[1:]])
        if s.get("error"):
            lines.append(f"  {label}: ERROR {s['error']}")
            continue
        first, steady = s["empty_ticks"]
        rows.append([label, _case(steady, f"empty sensor tick (1st: {_s(first['wall_s'])} / {_s(first['cpu_s'])})"),
                     _s(steady["wall_s"]), _s(steady["cpu_s"]), *blank])
        evaluation = s.get("sensor_evaluation") or {}
        if "cpu_s" in evaluation:
            rows.append([label, "  its evaluation in the code server", _s(evaluation["wall_s"], 4), _s(evaluation["cpu_s"], 4), *blank])
        for d in (1, section["deliveries"]):
            c = s[f"after_{d}"]
            floor = (c.get("floor") or {}).get("detail") or {}
            rows.append([label, _case(c, f"delivery after {d}"), _s(c["wall_s"]), _s(c["cpu_s"]),
                         _s((c.get("breakdown") or {}).get("bronze_to_gold_s"), 2), f"{_s(floor.get('sql_s'), 2)} ({_s(floor.get('sql_cpu_s'), 2)})",
                         _s(c.get("ratio_full"), 3, "x"), _s(c.get("ratio_full_wall"), 2, "x"), _s(c.get("ratio_floor"), 1, "x")])
            lines.append(_steps_line(f"{label} after {d}", c))
        acc, fr = s.get("accumulate") or {}, s.get("full_refresh") or {}
        same = {True: ", same silver + gold", False: ", silver + gold DIFFER"}.get(fr.get("gold_equal"), "")
        rows.append([label, "full refresh: skipped" if fr.get("skipped") else _case(fr, f"full refresh after {section['deliveries']}{same}"),
                     _s(fr.get("wall_s")), _s(fr.get("cpu_s")), _s((fr.get("breakdown") or {}).get("bronze_to_gold_s"), 2), *blank[1:]])
        accumulated = _case(acc, f"deliveries 2..{section['deliveries'] - 1} in one tick")
        lines.append(f"  {label}: {accumulated} {_s(acc.get('wall_s'))} s"
                     f" (accumulation, not a delivery figure); warehouse {s.get('warehouse_mb_after_full', 0):,.0f} MB after the full run,"
                     f" {s.get('warehouse_mb_after_deliveries', 0):,.0f} MB after the deliveries" + (f"; full refresh {fr['skipped']}" if fr.get("skipped") else ""))
    out.append(table(rows, ["customers", "case", "wall s", "cpu s", "bronze-to-gold s", "floor s (cpu)", "b2g/full b2g", "tick/full", "b2g/floor"]))
    out += lines
    modes = next((m for s in section["sizes"] if (m := (((s.get("after_1") or {}).get("floor") or {}).get("detail") or {}).get("models"))), {})
    out.append("bronze-to-gold (b2g): first bronze step start to gold step end, from the run's event log; it leaves out process start-up"
               " with the sensor's evaluation, run creation, the warehouse_replica publish and shutdown (the fixed costs, per line above)."
               " b2g/full b2g: the delivery's against the full run's; tick/full: wall against wall; b2g/floor: against the floor's SQL.")
    out.append("floor = one DuckDB process on a copy of the warehouse just before the delivery, one transaction: the files read with"
               " bronze's SELECT and appended to raw_*; silver upserted for the delivered keys (the source's silver SELECT over those keys'"
               " raw rows); gold: the dbt models' compiled SQL (`dbt compile`) wrapped, its silver sources replaced by key-filtered subqueries,"
               " " + ", ".join(f"{k} {v}" for k, v in (modes or {}).items()) + "; no audits, no dbt tests, no change logs. floor s: its SQL"
               " wall, cpu in brackets. gold = floor's: rows and row hashes of " + ", ".join(GOLD) + " equal after that delivery.")
    return "\n".join(out)


def targets(section: dict | None) -> list[list[str]]:
    from benchmarks.report import size_label

    sizes = [s for s in (section or {}).get("sizes", []) if not s.get("error")]
    big = next((s for s in sizes if s["customers"] == 10_000_000), sizes[-1] if sizes else None)
    where = "" if not big else f" ({size_label(big['customers'])}" + (")" if big["customers"] == 10_000_000 else "; 10M not run)")

    def row(label, value, text, ok):
        return [label + where, text if value is not None else "not run", "-" if value is None else ("meets" if ok(value) else "MISSES")]

    a1, a30 = (big or {}).get("after_1") or {}, (big or {}).get(f"after_{(section or {}).get('deliveries')}") or {}
    share, floor, steady = a1.get("ratio_full"), a1.get("ratio_floor"), ((big or {}).get("empty_ticks") or [{}, {}])[1]
    evaluation = (big or {}).get("sensor_evaluation") or {}
    drift = _ratio((a30.get("breakdown") or {}).get("bronze_to_gold_s"), (a1.get("breakdown") or {}).get("bronze_to_gold_s"))
    return [
        row("delivery at 10M <= 10% of a full run", share,
            f"{_s(share and share * 100, 1)}% (bronze-to-gold); tick {_s(a1.get('ratio_full_wall') and a1['ratio_full_wall'] * 100, 0)}% wall",
            lambda v: v <= TARGET_SHARE_OF_FULL),
        row("delivery at 10M <= 2x its floor", floor, f"{_s(floor, 1)}x (bronze-to-gold / floor SQL)", lambda v: v <= TARGET_FLOOR_RATIO),
        row("after 30 deliveries ~ after 1 (ratio)", drift, f"{_s(drift, 2)}x (bronze-to-gold; within {AFTER_30_TOLERANCE}x either way)",
            lambda v: 1 / AFTER_30_TOLERANCE <= v <= AFTER_30_TOLERANCE),
        row("empty sensor tick < 2 s CPU (in the daemon's code server)", evaluation.get("cpu_s"),
            f"{_s(evaluation.get('cpu_s'), 4)} s cpu; the CLI's tick, a new process: {_s(steady.get('cpu_s'), 2)} s cpu",
            lambda v: v < TARGET_EMPTY_TICK_CPU_S),
    ]
