"""Deliveries larger than one DuckDB row group (122,880 rows) land whole, by file and by database.

duckdb 2.0.0 lost them: a delivery is staged in a table made empty by `CREATE TABLE AS` inside the
load's transaction and filled by a parallel read; `INSERT ... SELECT` from it then wrote nothing once
it held a row group, and the run succeeded with the files recorded as taken in. The pin is 2.0.1
(pyproject.toml); these fail on 2.0.0.
"""

import os
import sqlite3

import dagster as dg
import yaml
from dagster_duckdb import DuckDBResource

from clawdata.defs.ingest.assets import build_ingest_assets
from clawdata.sources.database import DatabaseSourceSpec, declare
from clawdata.warehouse.readers import read_only
from tests.oracle import expected
from tests.test_incremental import materialize_all

ROWS = 130_000  # more than one row group
CUSTOMERS_HEADER = "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at"


def test_a_file_delivery_of_more_than_a_row_group_lands_whole_and_again_when_redelivered(project):
    materialize_all(project)
    big = project["inbox"] / "customers_big.csv"
    big.write_text(CUSTOMERS_HEADER + "\n" + "".join(
        f"{100_000 + i},Ann,Lee,ann{i}@example.org,+33 1 23 45 67 89,Paris,FR,2024-01-01,2099-01-01 00:00:00\n"
        for i in range(ROWS)))
    for _ in range(2):  # delivered, then delivered again (a new modification time: its rows replaced)
        materialize_all(project)
        oracle = expected(project["sample"], project["inbox"])
        with read_only(project["warehouse"]) as conn:
            assert conn.execute("SELECT count(*) FROM raw_customers").fetchone()[0] == oracle["raw_customers"]
            assert conn.execute("SELECT count(*) FROM slv_customers").fetchone()[0] == oracle["slv_customers"]
            assert conn.execute("SELECT count(*) FROM dim_customers").fetchone()[0] == oracle["slv_customers"]
        os.utime(big, (big.stat().st_atime, big.stat().st_mtime + 60))


def test_a_database_load_of_more_than_a_row_group_lands_whole(tmp_path):
    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT, updated_at TIMESTAMP)")
        db.execute("INSERT INTO accounts VALUES (0, 'first', '2024-01-01 00:00:00')")
    text, _ = declare("accounts", f"sqlite:///{app}", "accounts", ["id"], "updated_at")
    assets = build_ingest_assets(DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"]),
                                 "defs/sources/accounts/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))}
    with dg.instance_for_test() as instance:
        dg.materialize(assets, instance=instance, resources=resources)
        with sqlite3.connect(app) as db:  # the next load takes these by their cursor
            db.executemany("INSERT INTO accounts VALUES (?, ?, '2024-02-01 00:00:00')",
                           ((i, f"n{i}") for i in range(1, ROWS + 1)))
        dg.materialize(assets, instance=instance, resources=resources)
    with read_only(tmp_path / "warehouse.duckdb") as conn:
        assert conn.execute("SELECT count(*) FROM silver.slv_accounts").fetchone()[0] == ROWS + 1
