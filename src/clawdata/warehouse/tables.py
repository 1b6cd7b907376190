"""Tables by schema and name: clawdata's layers live in schemas of their own (`bronze`, `silver`,
the ledger in `_clawdata`), so that no dbt node, whatever it is called, builds over one of them."""

from dataclasses import dataclass

import duckdb

BRONZE = "bronze"
SILVER = "silver"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Table:
    schema: str
    name: str

    def __str__(self) -> str:  # the relation in SQL
        return f"{ident(self.schema)}.{ident(self.name)}"

    @property
    def qualified(self) -> str:  # `schema.name`, as `dagster/table_name` and the replica's snapshot say it
        return f"{self.schema}.{self.name}"

    @property
    def schema_sql(self) -> str:
        return ident(self.schema)

    @property
    def name_sql(self) -> str:
        return ident(self.name)

    @property
    def staging(self) -> "Table":
        return Table(self.schema, f"{self.name}__staging")

    def exists(self, conn: duckdb.DuckDBPyConnection) -> bool:
        return conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [self.schema, self.name]).fetchone()[0] > 0


def row_count(conn: duckdb.DuckDBPyConnection, schema: str, name: str, database: str | None = None) -> int | None:
    """A table's or view's rows; None for a view that no longer binds (what it read was dropped, or
    the file an external model wrote is gone)."""
    try:
        return conn.execute(f"SELECT count(*) FROM {ident(database) + '.' if database else ''}{Table(schema, name)}").fetchone()[0]
    except duckdb.Error:
        return None


def migrate_to_layer_schemas(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """A warehouse from before the layer schemas holds bronze and silver in `main`: move each table
    the ledger says clawdata built into its schema (DuckDB has no ALTER TABLE ... SET SCHEMA: copy
    and drop, one transaction). Returns the tables moved; run before any writer touches the file, so
    a dbt seed now named like one of them is never mistaken for it."""
    from clawdata.warehouse import ledger

    if not ledger.exists(conn):
        return []
    layers = conn.execute(f"SELECT table_name, merged_batch IS NOT NULL FROM {ledger.LAYERS} "
                          "WHERE table_name NOT LIKE '%<-%'").fetchall()
    moved = []
    for name, is_silver in layers:
        table, old = Table(SILVER if is_silver else BRONZE, name), Table("main", name)
        if table.exists(conn) or not old.exists(conn):
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema_sql}")
            conn.execute(f"CREATE TABLE {table} AS SELECT * FROM {old}")
            conn.execute(f"DROP TABLE {old}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        moved.append(table.qualified)
    return moved
