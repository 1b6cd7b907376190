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


def move_to_layer_schema(conn: duckdb.DuckDBPyConnection, table: Table) -> bool:
    """A warehouse from before the layer schemas holds `main.<name>`: move it into its schema (one
    transaction; DuckDB has no ALTER TABLE ... SET SCHEMA). True if it moved."""
    old = Table("main", table.name)
    if table.exists(conn) or not old.exists(conn):
        return False
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema_sql}")
        conn.execute(f"CREATE TABLE {table} AS SELECT * FROM {old}")
        conn.execute(f"DROP TABLE {old}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True
