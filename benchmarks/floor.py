"""The floor: the pipeline's own SQL run directly in ONE DuckDB process, with no Dagster and no dbt.

    python -m benchmarks.floor --manifest dbt-target/manifest.json --warehouse DIR/warehouse.duckdb --out floor.json

(with CLAWDATA_SAMPLE_DIR / CLAWDATA_INBOX_DIR naming the input, as for the pipeline)

What it runs, in the order `materialize --all` does:
- bronze, per source: the header check (`csv_files.check_header`), then exactly the asset's statements
  (`select_file_sql` plus `_file_rank` and `_loaded_at`) into a staging table, the bronze audits on it
  (`defs/ingest/audits.py`), and the same swap (drop, rename, commit) as write-audit-publish;
- silver, per source: `source.silver_sql` into a staging table, the silver audits, the swap;
- gold: every dbt model's `compiled_code` from the manifest of `dbt compile`, as
  `CREATE OR REPLACE TABLE <relation> AS (...)`, in dependency order; then every dbt data test's compiled
  SQL wrapped as dbt wraps it (`select count(*) ... from (<test>)`), so the floor does the same checks.
Left out: Dagster's metadata (row counts, schema, preview: a few cheap queries per table) and dbt's own
bookkeeping (catalog queries, artifacts).

The ingest modules are loaded without running `clawdata.defs.ingest/__init__.py`, which imports Dagster:
the floor process never imports Dagster (checked and reported).
"""

import argparse
import json
import sys
import time
import types
from pathlib import Path


def _load_ingest_modules():
    """clawdata.defs.ingest.{sources,audits} without their package __init__ (which imports dagster)."""
    import clawdata

    root = Path(clawdata.__file__).parent
    for name in ("clawdata.defs", "clawdata.defs.ingest"):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
            sys.modules[name] = package
    from clawdata.defs.ingest import sources

    try:
        from clawdata.defs.ingest import audits
    except Exception as e:  # the floor still runs, and says it has no audits
        return sources, None, f"audits not loaded: {type(e).__name__}: {e}"
    return sources, audits, None


def _publish(conn, table: str, build, audits) -> dict:
    """Write-audit-publish as warehouse/publish.py does it: staging table, audits, swap, one transaction."""
    staging = f"{table}__staging"
    timings = {}
    conn.execute("BEGIN TRANSACTION")
    conn.execute(f'DROP TABLE IF EXISTS "{staging}"')
    t = time.perf_counter()
    build(staging)
    timings["build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    failed = []
    for audit in audits:
        passed, observed = conn.execute(audit.sql.format(table=staging)).fetchone()
        if not passed:
            failed.append(f"{audit.name}: {observed}")
    timings["audits_s"] = time.perf_counter() - t
    t = time.perf_counter()
    conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    conn.execute(f'ALTER TABLE "{staging}" RENAME TO "{table}"')
    conn.execute("COMMIT")
    timings["commit_s"] = time.perf_counter() - t
    timings["audits"] = len(audits)
    timings["failed_audits"] = failed
    return timings


def _dbt_order(manifest: dict) -> list[dict]:
    """Models and data tests, dependencies first (ties by id), as `dbt build` would order them."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test") and node.get("config", {}).get("enabled", True)
    }
    deps = {uid: {d for d in node["depends_on"]["nodes"] if d in nodes} for uid, node in nodes.items()}
    order, done = [], set()
    while len(order) < len(nodes):
        ready = sorted(uid for uid in nodes if uid not in done and deps[uid] <= done)
        if not ready:
            raise RuntimeError("dependency cycle in the dbt manifest")
        # Models before tests among the ready ones: tests of a model wait for it anyway.
        for uid in ready:
            order.append(nodes[uid])
            done.add(uid)
    return order


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, required=True, help="manifest.json of `dbt compile`")
    parser.add_argument("--warehouse", type=Path, required=True, help="a fresh DuckDB file (its stem must match the compiled SQL's catalog)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    t_start = time.perf_counter()

    import duckdb

    sources_mod, audits_mod, audits_note = _load_ingest_modules()
    from clawdata.warehouse.csv_files import check_header, select_file_sql

    manifest = json.loads(args.manifest.read_text())
    dbt_nodes = _dbt_order(manifest)
    t_imports = time.perf_counter() - t_start

    result = {"bronze": {}, "silver": {}, "gold_models": {}, "gold_tests": {}, "audits_included": audits_mod is not None}
    if audits_note:
        result["audits_note"] = audits_note
    t0 = time.perf_counter()
    conn = duckdb.connect(str(args.warehouse))
    try:
        for source in sources_mod.SOURCES:
            t = time.perf_counter()
            headers = [check_header(path, source.columns) for path in source.input_files()]

            def load(staging, source=source, headers=headers):
                for i, header in enumerate(headers):
                    select = (
                        f"SELECT *, {i} AS _file_rank, current_timestamp AS _loaded_at "
                        f"FROM ({select_file_sql(header, source.columns)})"
                    )
                    conn.execute(f'CREATE TABLE "{staging}" AS {select}' if i == 0 else f'INSERT INTO "{staging}" {select}')

            audits = audits_mod.raw_audits(source) if audits_mod else []
            step = _publish(conn, source.raw_table, load, audits)
            step["total_s"] = time.perf_counter() - t
            result["bronze"][source.raw_table] = step
        for source in sources_mod.SOURCES:
            t = time.perf_counter()
            audits = audits_mod.silver_audits(source) if audits_mod else []
            step = _publish(
                conn, source.silver_table, lambda staging, s=source: conn.execute(f'CREATE TABLE "{staging}" AS {s.silver_select()}'), audits
            )
            step["total_s"] = time.perf_counter() - t
            result["silver"][source.silver_table] = step
        failing_tests = []
        for node in dbt_nodes:
            t = time.perf_counter()
            if node["resource_type"] == "model":
                conn.execute(f"CREATE OR REPLACE TABLE {node['relation_name']} AS (\n{node['compiled_code']}\n)")
                result["gold_models"][node["name"]] = time.perf_counter() - t
            else:
                failures = conn.execute(
                    "select count(*) as failures, count(*) != 0 as should_warn, count(*) != 0 as should_error "
                    f"from (\n{node['compiled_code']}\n) dbt_internal_test"
                ).fetchone()[0]
                if failures:
                    failing_tests.append(f"{node['name']}: {failures}")
                result["gold_tests"][node["name"]] = time.perf_counter() - t
        result["failing_tests"] = failing_tests
    finally:
        conn.close()
    result["sql_s"] = time.perf_counter() - t0
    result["imports_s"] = t_imports
    result["dagster_imported"] = "dagster" in sys.modules
    result["dbt_imported"] = any(m == "dbt" or m.startswith("dbt.") for m in sys.modules)
    result["phases_s"] = {
        "bronze": sum(s["total_s"] for s in result["bronze"].values()),
        "silver": sum(s["total_s"] for s in result["silver"].values()),
        "gold_models": sum(result["gold_models"].values()),
        "gold_tests": sum(result["gold_tests"].values()),
    }
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
