"""The project's on-run-start and on-run-end hooks that failed in the last dbt build, kept until one runs
them again.

dbt runs hooks with every build; clawdata starts no dbt when nothing changed, so a failed hook was
forgotten by the next run (it said SUCCESS where `dbt build` fails again). Each failure is kept with the
hook's version (gold/manifest.py: its SQL and the macros it calls): while the hook is unchanged and
no build runs it, the step fails with the kept error, as a kept failing test does; a build replaces
them all. Dagster-free: the gold step calls it around dbt, on the warehouse's connection.
"""

from collections.abc import Mapping

import duckdb

from clawdata.warehouse import ledger
from clawdata.warehouse.tables import Table

TABLE = Table(ledger.SCHEMA, "failed_hooks")


def read(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """hook id -> (its version when it failed, its error)."""
    if not TABLE.exists(conn):
        return {}
    return {uid: (version, error) for uid, version, error in conn.execute(f"SELECT hook, version, error FROM {TABLE}").fetchall()}


def write(conn: duckdb.DuckDBPyConnection, failed: Mapping[str, tuple[str, str]]) -> None:
    """What the build that just ran left: its failed hooks, none if they all passed."""
    if not failed and not TABLE.exists(conn):
        return
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ledger.SCHEMA}")
    conn.execute(f"CREATE OR REPLACE TABLE {TABLE} (hook VARCHAR, version VARCHAR, error VARCHAR)")
    if failed:  # (DuckDB refuses executemany over no rows: a build whose hooks all passed failed with it)
        conn.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?)", [(uid, v, e) for uid, (v, e) in failed.items()])
