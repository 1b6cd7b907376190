"""INCREMENTAL DELIVERIES: what one small daily file costs on top of a large history.

    python -m benchmarks.run --only-deliveries --delivery-sizes 100000

The files: datasets.py (1,000 customers and 5,000 orders a day). Per size, one warehouse and one
DAGSTER_HOME (embedded default; every command a measured subprocess):
  full      `clawdata dagster materialize --all` on a fresh warehouse (the base history)
  empty     `clawdata dagster sensor tick inbox_sensor` twice with an empty inbox (the first records the
            files present, the second is the steady-state empty tick), and the sensor's evaluation alone
            in a process that has the definitions loaded, as the daemon's code server has
  after 1   delivery 1 dropped into the inbox, one tick (it evaluates the sensor, submits the run and
            executes it in-process)
  after 30  deliveries 2..29 at once and one tick (accumulation), then delivery 30 and one tick
  refresh   `materialize --all --full-refresh`: silver and gold compared with what the deliveries built
  floor     the work of delivery 1 (and 30) in one DuckDB process, on a copy of the warehouse taken just
            before it (core.py; the copy is setup, not timed), run before the tick
Each run is read back from its event log: bronze-to-gold (first bronze step start to gold step end)
apart from the fixed costs (start-up with the sensor's evaluation, run creation, the replica publish,
shutdown). The gold tables after deliveries 1 and 30 are compared with the floor's (rows and row
hashes), which checks both.
"""

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import datasets
from benchmarks.core import GOLD, SILVER, Context, copy_warehouse, fingerprint, fresh_file, loadavg, read_back
from benchmarks.fmt import num, ratio, size_label, table

SENSOR = "inbox_sensor"


def _tick(ctx: Context, sample, home: Path, log: Path) -> dict:
    out = ctx.clawdata_run(["dagster", "sensor", "tick", SENSOR], sample, home, log)
    skipped = re.search(r"skipped: (.*)", Path(out["log"]).read_text(errors="replace"))
    return {**out, "skip_reason": skipped.group(1).strip() if skipped else None}


def _drop(ctx: Context, delivery: dict[str, Path]) -> dict[str, Path]:
    """A delivery copied into the inbox, renamed into place (the sensor never sees half a file)."""
    dropped = {}
    for name, path in delivery.items():
        tmp = ctx.inbox / f".{path.name}.tmp"
        shutil.copyfile(path, tmp)
        dropped[name] = tmp.rename(ctx.inbox / path.name)
    return dropped


def _sensor_evaluation(ctx: Context, sample, home: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "benchmarks.deliveries", SENSOR], env=ctx.env(sample, home=home),
                          capture_output=True, text=True, cwd=ctx.repo)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_size(ctx: Context, n: int, seed: int, manifest: Path) -> dict:
    data = datasets.dataset(ctx.work, n, seed, log=ctx.log)
    sample, home, logs = data["dir"], ctx.runs / f"home-{n}", ctx.runs / "logs" / str(n)
    deliveries = datasets.make_deliveries(ctx.work / "deliveries" / f"customers-{n}-seed-{seed}", n, seed)
    for folder in (home, ctx.inbox, ctx.warehouse.parent / "replica"):
        shutil.rmtree(folder, ignore_errors=True)
    ctx.inbox.mkdir(parents=True)
    out = {"customers": n, "rows": data["rows"], "load_at_start": loadavg()}
    ctx.log(f"deliveries at {n:,} customers: full run ...")
    full = out["full"] = ctx.materialize(sample, home, logs / "full.log", fresh=True)
    if full["returncode"] != 0:
        return {**out, "error": f"materialize --all failed; see {full['log']}"}
    out["warehouse_mb_after_full"] = ctx.warehouse.stat().st_size / 1e6
    out["empty_ticks"] = [_tick(ctx, sample, home, logs / f"empty-tick-{i}.log") for i in (1, 2)]
    out["sensor_evaluation"] = _sensor_evaluation(ctx, sample, home)
    last = len(deliveries)
    for d in range(1, last + 1):
        if d in (1, last):  # setup, not timed: the warehouse before the delivery, for its floor
            copy = copy_warehouse(ctx.warehouse, ctx.runs / "floor" / ctx.warehouse.name)
            dropped = _drop(ctx, deliveries[d - 1])
            floor = ctx.floor("delivery-floor", sample, manifest, copy, logs / f"floor-{d}.log", files=dropped)
            shutil.rmtree(copy.parent, ignore_errors=True)
            case = out[f"after_{d}"] = {**_tick(ctx, sample, home, logs / f"delivery-{d}.log"), "floor": floor}
            case["platform_gold"] = fingerprint(ctx.warehouse)
            case["matches_floor"] = case["platform_gold"] == (floor.get("detail") or {}).get("fingerprint") if case["returncode"] == 0 else None
        else:
            _drop(ctx, deliveries[d - 1])
            if d == last - 1:  # deliveries 2..last-1, all at once
                out["accumulate"] = _tick(ctx, sample, home, logs / f"deliveries-2-{d}.log")
    out["warehouse_mb_after_deliveries"] = ctx.warehouse.stat().st_size / 1e6
    after_deliveries = fingerprint(ctx.warehouse, GOLD + SILVER)
    refresh = out["full_refresh"] = ctx.materialize(sample, home, logs / "full-refresh.log", False, "--full-refresh")
    refresh["gold_equal"] = fingerprint(ctx.warehouse, GOLD + SILVER) == after_deliveries  # deliveries one by one = a rebuild?
    runs = [r for r in (full, *out["empty_ticks"], out["after_1"], out.get("accumulate") or {}, out[f"after_{last}"], refresh) if r.get("run_id")]
    try:
        read_back(home, runs)
    except Exception as e:  # the walls stand without the breakdown
        ctx.log(f"  ! could not read the runs back: {type(e).__name__}: {e}")
    for d in (1, last):
        case = out[f"after_{d}"]
        b2g, floor_sql = case.get("bronze_to_gold_s"), (case["floor"].get("detail") or {}).get("sql_s")
        case.update(ratio_full=ratio(b2g, full.get("bronze_to_gold_s")), ratio_full_wall=ratio(case["wall_s"], full["wall_s"]),
                    ratio_floor=ratio(b2g, floor_sql))
        ctx.log(f"  after {d}: tick {case['wall_s']:.1f} s (cpu {case['cpu_s']:.1f}), bronze-to-gold {b2g or 0:.2f} s,"
                f" floor {floor_sql or 0:.2f} s; gold equals the floor's: {case['matches_floor']}")
    for folder in (home, ctx.inbox):
        shutil.rmtree(folder, ignore_errors=True)
    ctx.inbox.mkdir(parents=True)
    fresh_file(ctx.warehouse)
    return out


def run_all(ctx: Context, sizes: list[int], seed: int) -> dict:
    for n in sizes:  # all data first: generation is no part of any figure
        datasets.dataset(ctx.work, n, seed, log=ctx.log)
    tiny = datasets.dataset(ctx.work, 1000, seed, log=ctx.log)["dir"]
    ctx.log("deliveries: warm-up run (not measured) ...")
    warm = ctx.materialize(tiny, ctx.runs / "home-warmup", ctx.runs / "logs" / "warmup.log", fresh=True)
    if warm["returncode"] != 0:
        raise RuntimeError(f"the warm-up `materialize --all` failed; see {warm['log']}")
    manifest = ctx.compile_manifest(tiny)
    return {"deliveries": datasets.DELIVERIES, "customers_per_delivery": datasets.CUSTOMERS_PER_DELIVERY,
            "customer_update_share": datasets.CUSTOMER_UPDATES, "orders_per_delivery": datasets.ORDERS_PER_DELIVERY,
            "order_update_share": datasets.ORDER_UPDATES, "seed": seed, "manifest": str(manifest),
            "sizes": [bench_size(ctx, n, seed, manifest) for n in sizes]}


# ---- the report ------------------------------------------------------------------------------------

def _case(run: dict | None, text: str) -> str:
    return text + ("" if not run or run.get("returncode", 0) == 0 else " FAILED")


def _b2g(run: dict) -> float | None:
    return run.get("bronze_to_gold_s", (run.get("breakdown") or {}).get("bronze_to_gold_s"))  # (breakdown: older result files)


def _steps_line(label: str, c: dict) -> str:
    b, dbt, floor = c.get("breakdown") or c, c.get("dbt") or {}, (c.get("floor") or {}).get("detail") or {}
    layers, phases = b.get("layers_s") or {}, c.get("phases") or b
    return (f"  {label}: steps " + ", ".join(f"{k} {num(layers.get(k), 2)}" for k in ("bronze", "silver", "gold", "replica"))
            + f" s (gold: until dbt's first result {num(dbt.get('before_first_result_s'), 2)}, results {num(dbt.get('results_s'), 2)},"
            f" after {num(dbt.get('after_last_result_s'), 2)}); fixed: start-up + sensor {num(phases.get('startup_s'), 2)},"
            f" run creation {num(phases.get('run_creation_s'), 2)}, between steps {num(phases.get('between_steps_s'), 2)},"
            f" shutdown {num(phases.get('shutdown_s'), 2)}; floor: bronze {num(floor.get('bronze_s'), 2)}, silver"
            f" {num(floor.get('silver_s'), 2)}, gold {num(floor.get('gold_s'), 2)} (process {num((c.get('floor') or {}).get('wall_s'), 2)});"
            f" load {num(c.get('load_at_start'))}; gold = floor's: {({True: 'yes', False: 'NO'}).get(c.get('matches_floor'), '-')}")


def render(section: dict) -> str:
    nc, no, last = section["customers_per_delivery"], section["orders_per_delivery"], section["deliveries"]
    uc, uo = round(nc * section["customer_update_share"]), round(no * section["order_update_share"])
    out = [f"INCREMENTAL DELIVERIES  one delivery = customers_dNNN.csv ({nc:,} rows: {uc:,} updates, {nc - uc:,} new) + orders_dNNN.csv"
           f" ({no:,}: {no - uo:,} new, {uo:,} updates) in the inbox, then `clawdata dagster sensor tick {SENSOR}` (embedded default:"
           " the tick evaluates the sensor, then executes the run in-process)"]
    rows, lines, blank = [], [], [""] * 5
    for s in section["sizes"]:
        label, full = size_label(s["customers"]), s.get("full") or {}
        rows.append([label, _case(full, "full run (materialize --all)"), num(full.get("wall_s")), num(full.get("cpu_s")), num(_b2g(full), 2), *blank[1:]])
        if s.get("error"):
            lines.append(f"  {label}: ERROR {s['error']}")
            continue
        first, steady = s["empty_ticks"]
        rows.append([label, _case(steady, f"empty sensor tick (1st: {num(first['wall_s'])} / {num(first['cpu_s'])})"),
                     num(steady["wall_s"]), num(steady["cpu_s"]), *blank])
        evaluation = s.get("sensor_evaluation") or {}
        if "cpu_s" in evaluation:
            rows.append([label, "  its evaluation in the code server", num(evaluation["wall_s"], 4), num(evaluation["cpu_s"], 4), *blank])
        for d in (1, last):
            c, floor = s[f"after_{d}"], (s[f"after_{d}"].get("floor") or {}).get("detail") or {}
            rows.append([label, _case(c, f"delivery after {d}"), num(c["wall_s"]), num(c["cpu_s"]), num(_b2g(c), 2),
                         f"{num(floor.get('sql_s'), 2)} ({num(floor.get('sql_cpu_s'), 2)})", num(c.get("ratio_full"), 3, "x"),
                         num(c.get("ratio_full_wall"), 2, "x"), num(c.get("ratio_floor"), 1, "x")])
            lines.append(_steps_line(f"{label} after {d}", c))
        acc, fr = s.get("accumulate") or {}, s.get("full_refresh") or {}
        same = {True: ", same silver + gold", False: ", silver + gold DIFFER"}.get(fr.get("gold_equal"), "")
        rows.append([label, _case(fr, f"full refresh after {last}{same}"), num(fr.get("wall_s")), num(fr.get("cpu_s")), num(_b2g(fr), 2), *blank[1:]])
        lines.append(f"  {label}: {_case(acc, f'deliveries 2..{last - 1} in one tick')} {num(acc.get('wall_s'))} s (accumulation, not a"
                     f" delivery figure); warehouse {s.get('warehouse_mb_after_full', 0):,.0f} MB after the full run,"
                     f" {s.get('warehouse_mb_after_deliveries', 0):,.0f} MB after the deliveries")
    out.append(table(rows, ["customers", "case", "wall s", "cpu s", "bronze-to-gold s", "floor s (cpu)", "b2g/full b2g", "tick/full", "b2g/floor"]))
    out += lines
    modes = next((m for s in section["sizes"] if (m := (((s.get("after_1") or {}).get("floor") or {}).get("detail") or {}).get("models"))), {})
    out.append("bronze-to-gold (b2g): first bronze step start to gold step end, from the run's event log; it leaves out process start-up"
               " with the sensor's evaluation, run creation, the warehouse_replica publish and shutdown (the fixed costs, per line above)."
               " b2g/full b2g: the delivery's against the full run's; tick/full: wall against wall; b2g/floor: against the floor's SQL.")
    out.append("floor = one DuckDB process on a copy of the warehouse just before the delivery, one transaction: the files read with"
               " bronze's SELECT and appended to bronze; silver upserted for the delivered keys; gold: the dbt models' compiled SQL, its"
               " silver sources filtered to the affected keys, " + ", ".join(f"{k} {v}" for k, v in modes.items())
               + "; no audits, no dbt tests, no change logs. floor s: its SQL wall, cpu in brackets. gold = floor's: rows and row"
               " hashes of " + ", ".join(GOLD) + " equal after that delivery.")
    return "\n".join(out)


def sensor_cost(name: str, repeats: int = 5) -> dict:
    """One evaluation of a sensor where the daemon has it evaluated: in the code server, whose definitions
    are loaded once (the CLI's tick also starts a process and loads them: its figure is that, plus this).
    The first evaluation (no cursor) records the files present; the measured ones start from its cursor."""
    import dagster as dg

    from clawdata.definitions import defs

    sensor, repository = defs.get_sensor_def(name), defs.get_repository_def()
    with dg.DagsterInstance.get() as instance:
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, repository_def=repository))
        cpu, wall = [], []
        for _ in range(repeats):
            context = dg.build_sensor_context(instance=instance, cursor=first.cursor, repository_def=repository)
            c0, w0 = time.process_time(), time.perf_counter()
            result = sensor.evaluate_tick(context)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    return {"cpu_s": statistics.median(cpu), "wall_s": statistics.median(wall), "repeats": repeats,
            "requested_runs": len(result.run_requests or []), "skip_reason": result.skip_message}


if __name__ == "__main__":  # the sensor's evaluation alone (a process of its own, in a deployment's environment)
    print(json.dumps(sensor_cost(sys.argv[1] if len(sys.argv) > 1 else SENSOR)))
