"""Tables dbt-duckdb leaves behind, dropped after each build.

An incremental Python model's new rows go through a table named `<model>__dbt_tmp<timestamp>`: the
SQL of dbt-duckdb's incremental materialization makes it a temporary table, its Python writes a
regular one in the model's schema, and the materialization drops only the tables it did not mean to
be temporary. One is left per incremental build, and the read path would serve every one of them. Plain `dbt build` leaves them too; here they go after the build. Only a
table named after a node of the project, in that node's schema, is dropped. Dagster-free: the gold
step calls it after dbt.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb

_LEFTOVER = re.compile(r"(.+)__dbt_tmp\d*")


def drop(conn: duckdb.DuckDBPyConnection, nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Drop the leftover temporary tables of `nodes` (manifest nodes); returns those dropped."""
    owners = {(node.get("schema"), node.get("alias") or node.get("name")) for node in nodes
              if node.get("resource_type") in ("model", "seed", "snapshot")}
    found = conn.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                         "WHERE database_name = current_database() AND NOT temporary AND contains(table_name, '__dbt_tmp')").fetchall()
    dropped = []
    for schema, table in found:
        match = _LEFTOVER.fullmatch(table)
        if match and (schema, match.group(1)) in owners:
            conn.execute(f'DROP TABLE "{schema}"."{table}"')
            dropped.append(f"{schema}.{table}")
    return dropped
