"""The floor of one delivery (INCREMENTAL DELIVERIES): its work in ONE DuckDB process, no Dagster, no dbt.

    python -m benchmarks.delivery_floor --manifest M --warehouse COPY/warehouse.duckdb --out f.json \\
        --file customers=INBOX/customers_d001.csv --file orders=INBOX/orders_d001.csv

On a copy of the warehouse as it was just before the delivery, in one transaction:
- bronze: each file read with bronze's own SELECT (`csv_files.select_file_sql`, plus `_file_rank` and
  `_loaded_at`) and appended to its raw_ table;
- silver: upserted for the delivered keys only: those keys deleted, the source's silver SELECT over
  those keys' raw rows inserted (the latest version wins, as in a full build);
- gold: each dbt model's compiled SQL (`dbt compile` against an empty warehouse: the full SQL, whatever
  is_incremental() blocks it has) with its silver sources replaced by key-filtered subqueries, deleted
  and re-inserted for the affected keys where the model has one (BY_KEY: dim_customers for the delivered
  customers and the customers of the delivered orders, old and new version; fct_daily_revenue for those
  orders' dates, old and new), rebuilt in full otherwise (fct_category_revenue: a small global aggregate).
No audits, no dbt tests, no change logs or other bookkeeping. Dagster is never imported (checked).
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from benchmarks.floor import _dbt_order, _load_ingest_modules

# Gold models recomputed for affected keys only: model -> (key column, temp table of those keys).
BY_KEY = {"dim_customers": ("customer_id", "affected_customers"), "fct_daily_revenue": ("order_date", "affected_dates")}


def fingerprint(conn, tables) -> dict:
    """Rows and the sum of row hashes of each table: compares two warehouses' contents cheaply."""
    return {t: [str(v) for v in conn.execute(f'SELECT count(*), sum(hash(x)) FROM "{t}" x').fetchone()] for t in tables}


def _rank_sql(sources, path: Path) -> str:
    """`_file_rank` as bronze writes it (sources.file_rank)."""
    return "'" + sources.file_rank(path).replace("'", "''") + "'"


def delivery(manifest_path: Path, warehouse: Path, files: dict[str, Path]) -> dict:
    import duckdb

    sources, _, _ = _load_ingest_modules()
    from clawdata.warehouse.csv_files import check_header, select_file_sql

    by_name = {s.name: s for s in sources.SOURCES}
    manifest = json.loads(manifest_path.read_text())
    models = [n for n in _dbt_order(manifest) if n["resource_type"] == "model"]
    source_relation = {uid: (s["name"], s["relation_name"]) for uid, s in manifest["sources"].items()}
    timings, modes = {}, {}
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    conn = duckdb.connect(str(warehouse))
    try:
        columns = {}
        for table, column in conn.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'").fetchall():
            columns.setdefault(table, set()).add(column)
        conn.execute("BEGIN TRANSACTION")
        t = time.perf_counter()
        for name, path in files.items():
            source = by_name[name]
            select = select_file_sql(check_header(path, source.columns), source.columns)
            conn.execute(f'CREATE TEMP TABLE "delta_{name}" AS '
                         f"SELECT *, {_rank_sql(sources, path)} AS _file_rank, current_timestamp AS _loaded_at FROM ({select})")
            conn.execute(f'INSERT INTO "{source.raw_table}" BY NAME SELECT * FROM "delta_{name}"')
            conn.execute(f'CREATE TEMP TABLE "keys_{name}" AS SELECT DISTINCT "{source.key}" AS k FROM "delta_{name}" WHERE "{source.key}" IS NOT NULL')
        timings["bronze_s"] = time.perf_counter() - t
        t = time.perf_counter()
        # The delivered orders as they were before the upsert: an order may move to another customer or date.
        orders_in = "order_id IN (SELECT k FROM keys_orders)" if "orders" in files else "false"
        conn.execute(f"CREATE TEMP TABLE old_orders AS SELECT customer_id, order_date FROM slv_orders WHERE {orders_in}")
        for name in files:
            source = by_name[name]
            in_keys = f'"{source.key}" IN (SELECT k FROM "keys_{name}")'
            conn.execute(f'DELETE FROM "{source.silver_table}" WHERE {in_keys}')
            conn.execute(f'INSERT INTO "{source.silver_table}" BY NAME {source.silver_select(f"(SELECT * FROM main.{source.raw_table} WHERE {in_keys})")}')
        timings["silver_s"] = time.perf_counter() - t
        t = time.perf_counter()
        new_orders = f"SELECT customer_id, order_date FROM slv_orders WHERE {orders_in}"
        conn.execute(f"CREATE TEMP TABLE affected_customers AS SELECT customer_id AS k FROM old_orders UNION SELECT customer_id FROM ({new_orders})"
                     + (" UNION SELECT k FROM keys_customers" if "customers" in files else ""))
        conn.execute(f"CREATE TEMP TABLE affected_dates AS SELECT order_date AS k FROM old_orders UNION SELECT order_date FROM ({new_orders})")
        for node in models:
            tm, sql, key = time.perf_counter(), node["compiled_code"], BY_KEY.get(node["name"])
            if key:
                column, keys = key
                for uid in node["depends_on"]["nodes"]:
                    table, relation = source_relation.get(uid, (None, None))
                    if relation and column in columns.get(table, ()):
                        sql = sql.replace(relation, f'(SELECT * FROM {relation} WHERE "{column}" IN (SELECT k FROM {keys}))')
                conn.execute(f'DELETE FROM {node["relation_name"]} WHERE "{column}" IN (SELECT k FROM {keys})')
                conn.execute(f'INSERT INTO {node["relation_name"]} BY NAME SELECT * FROM (\n{sql}\n)')
            else:
                conn.execute(f"CREATE OR REPLACE TABLE {node['relation_name']} AS (\n{sql}\n)")
            modes[node["name"]] = f"for the affected {key[0]}s" if key else "in full"
            timings[f"gold.{node['name']}_s"] = time.perf_counter() - tm
        timings["gold_s"] = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("COMMIT")
        timings["commit_s"] = time.perf_counter() - t
        sql_s, cpu1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        affected = {k: conn.execute(f"SELECT count(*) FROM {k}").fetchone()[0] for k in ("affected_customers", "affected_dates")}
        gold = fingerprint(conn, [n["name"] for n in models])  # after the timing: for the comparison only
    finally:
        conn.close()
    return {
        "sql_s": sql_s, "sql_cpu_s": cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, **timings,
        "models": modes, "affected": affected, "fingerprint": gold,
        "dagster_imported": "dagster" in sys.modules, "dbt_imported": any(m == "dbt" or m.startswith("dbt.") for m in sys.modules),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, required=True, help="manifest.json of `dbt compile`")
    parser.add_argument("--warehouse", type=Path, required=True, help="a copy of the warehouse (its stem must match the compiled SQL's catalog)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--file", action="append", required=True, metavar="SOURCE=PATH", help="a delivered file (repeat per source)")
    args = parser.parse_args(argv)
    files = {name: Path(path) for name, path in (f.split("=", 1) for f in args.file)}
    args.out.write_text(json.dumps(delivery(args.manifest, args.warehouse, files), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
