"""REPLICA: the read path's cost, time and disk per publish of the replica (every served table: silver
and gold), by size.

    python -m benchmarks.replica --sizes 1000000 --scale 10      # alone

`make bench` publishes each THROUGHPUT size's warehouse 3 times into a scratch replica (wall, CPU,
replica and warehouse size); the platform runs include a publish as their last step. Alone: a real
`materialize --all` per size (its publish time read back from the run's `warehouse_replica`
materialization), then the publishes timed alone, and with --scale the largest warehouse scaled (keys
shifted apart) for a size whose full run does not fit the machine. Disk: the replica file beside the
warehouse, plus one more copy for as long as a reader keeps an older version open.
"""

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

from benchmarks.core import Context, stats
from benchmarks.datasets import dataset


def measure_publish(warehouse: Path, work: Path, reps: int = 3) -> dict:
    """Publish the warehouse `reps` times into a scratch replica; wall, CPU, sizes."""
    from clawdata.warehouse import replica

    target = work / "replica" / warehouse.name
    shutil.rmtree(target.parent, ignore_errors=True)
    walls, cpus = [], []
    for i in range(reps):
        cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        snapshot = replica.publish(warehouse, target, f"bench-{i}")
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime)
    out = {"publish_wall_s": stats(walls)["median"], "publish_cpu_s": stats(cpus)["median"], "walls": [round(w, 2) for w in walls],
           "replica_bytes": target.stat().st_size, "warehouse_bytes": warehouse.stat().st_size, "rows": sum(snapshot.tables.values())}
    shutil.rmtree(target.parent, ignore_errors=True)
    return out


def scaled_warehouse(source: Path, target: Path, factor: int) -> Path:
    """The served tables of `source`, each `factor` times with integer `*_id` keys shifted apart: a
    stand-in for a `factor`x larger run (same values, so about the same compression)."""
    import duckdb

    from clawdata.warehouse.replica import UNSERVED_SCHEMAS

    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    with duckdb.connect(str(target)) as conn:
        conn.execute("ATTACH ? AS src (READ_ONLY)", [str(source)])
        tables = conn.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'src'").fetchall()
        for schema, table in tables:
            if schema in UNSERVED_SCHEMAS:
                continue
            columns = conn.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = 'src' "
                                   "AND table_schema = ? AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
            select = ", ".join(f'"{c}" + k * 1000000000 AS "{c}"' if c.endswith("_id") and t in ("BIGINT", "INTEGER") else f'"{c}"'
                               for c, t in columns)
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT {select} FROM src."{schema}"."{table}", range({factor}) AS r(k)')
    return target


def _in_run_seconds(home: Path) -> float | None:
    """The `warehouse_replica` step's publish time in the latest run of the instance at `home`."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("warehouse_replica"))
    return event.asset_materialization.metadata["publish_seconds"].value if event else None


def render(rows: list[dict]) -> str:
    lines = ["REPLICA  the read path: one publish of every served table (new file beside, renamed into place), per run",
             f"  {'customers':>10}  {'served rows':>12}  {'in run s':>8}  {'alone s':>7}  {'cpu s':>6}  {'replica MB':>10}  {'warehouse MB':>12}"]
    for r in rows:
        in_run = f"{r['in_run_s']:.1f}" if r.get("in_run_s") else "-"
        lines.append(f"  {r['customers']:>10,}  {r['rows']:>12,}  {in_run:>8}  {r['publish_wall_s']:>7.1f}  "
                     f"{r['publish_cpu_s']:>6.1f}  {r['replica_bytes'] / 1e6:>10.0f}  {r['warehouse_bytes'] / 1e6:>12.0f}")
    lines.append("  disk: the replica, plus one more copy while a reader holds an older version open (freed when it closes)")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replica", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000000,10000000")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=int, default=0, help="also publish the largest size's warehouse scaled by this factor")
    args = p.parse_args(argv)
    work = Path(__file__).resolve().parent / ".work"
    ctx = Context(work.parent.parent, work, "replica-alone", log=lambda m: print(m, file=sys.stderr, flush=True)).prepare()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        data, home = dataset(work, n, args.seed, log=ctx.log), ctx.runs / f"home-{n}"
        run = ctx.materialize(data["dir"], home, ctx.runs / "logs" / f"replica-{n}.log", fresh=True)
        if run["returncode"] != 0:
            sys.exit(f"materialize --all failed at {n:,}; see {run['log']}")
        rows.append({"customers": n, "run_wall_s": run["wall_s"], "in_run_s": _in_run_seconds(home),
                     **measure_publish(ctx.warehouse, ctx.runs, args.reps)})
        ctx.log(f"  {n:,}: run {run['wall_s']:.0f} s; {json.dumps(rows[-1])}")
    if args.scale:
        scaled = scaled_warehouse(ctx.warehouse, ctx.runs / "scaled" / "warehouse.duckdb", args.scale)
        rows.append({"customers": rows[-1]["customers"] * args.scale, **measure_publish(scaled, ctx.runs, args.reps)})
        ctx.log(f"  scaled x{args.scale}: {json.dumps(rows[-1])}")
    print(render(rows))


if __name__ == "__main__":
    main()
