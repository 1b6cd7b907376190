"""A seed that dbt reloads from scratch keeps its last table until the new one is loaded.

dbt's seed materialization, under a full refresh (`--full-refresh`, or clawdata starting a changed
seed over so that new columns and types apply), drops the old table before it opens the transaction
that creates and loads the new one (`adapter.drop_relation` runs outside it). A seed file that then
fails to load (DuckDB's CSV reader refusing a line) leaves no table at all, and every view reading it
broken. A copy is taken before the build, in clawdata's own schema, and put back when the build left
no table; it is dropped either way. Dagster-free: the gold step calls it around dbt.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb

from clawdata.warehouse import ledger
from clawdata.warehouse.tables import Table


def _table(node: Mapping[str, Any]) -> Table:
    return Table(node["schema"], node.get("alias") or node["name"])


def _copy(node: Mapping[str, Any]) -> Table:
    table = _table(node)
    return Table(ledger.SCHEMA, f"kept_seed__{table.schema}__{table.name}")


def keep(conn: duckdb.DuckDBPyConnection, seeds: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Copy each seed's table (those that exist); returns the seeds copied."""
    kept = []
    for node in seeds:
        if _table(node).exists(conn):
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ledger.SCHEMA}")
            conn.execute(f"CREATE OR REPLACE TABLE {_copy(node)} AS FROM {_table(node)}")
            kept.append(node)
    return kept


def put_back(conn: duckdb.DuckDBPyConnection, kept: Iterable[Mapping[str, Any]]) -> list[str]:
    """Restore each kept seed whose table the build left missing; drop the copies. Returns the names
    of the seeds put back."""
    restored = []
    for node in kept:
        table, copy = _table(node), _copy(node)
        if not table.exists(conn):
            conn.execute(f"CREATE TABLE {table} AS FROM {copy}")
            restored.append(node["name"])
        conn.execute(f"DROP TABLE IF EXISTS {copy}")
    return restored
