"""Write-audit-publish: a table is replaced only by a version that passed its audits.

The new version is built under a staging name, audited, and swapped in within one DuckDB
transaction. Whatever fails (a bad file, a failed audit, a crash) rolls back, so readers and the next
run see the last good table. Dagster's own asset checks run after a materialization has already
replaced the data; these audits run before, and their results are reported as the asset's checks.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from clawdata.warehouse.tables import Table


@dataclass(frozen=True)
class Audit:
    name: str  # the asset check's name
    description: str
    sql: str  # one row, (passed BOOLEAN, observed VARCHAR) over the staged table `{table}`
    # True: a property of each row (or, for a key's uniqueness, of each merged key), so on an
    # incremental write it is checked on the changed rows alone; False: of the whole table.
    per_row: bool = False
    # On a merge, instead of `sql`: the same property over the merged rows `{table}` and the merged
    # keys `{keys}`, where `sql` would rescan the table.
    merge_sql: str | None = None

    def run(self, conn: duckdb.DuckDBPyConnection, table: str, keys: str | None = None) -> "AuditResult":
        sql = self.merge_sql.format(table=table, keys=keys) if keys and self.merge_sql else self.sql.format(table=table)
        passed, observed = conn.execute(sql).fetchone()
        return AuditResult(self, bool(passed), str(observed))

    @property
    def on_changes(self) -> bool:
        """Checked on the changed rows (and keys) alone on an incremental write."""
        return self.per_row or self.merge_sql is not None


@dataclass(frozen=True)
class AuditResult:
    audit: Audit
    passed: bool
    observed: str


class AuditFailed(Exception):
    def __init__(self, table: Table, results: Sequence[AuditResult], incremental: bool = False):
        self.results, self.incremental = list(results), incremental
        failed = "; ".join(f"{r.audit.name} ({r.observed})" for r in results if not r.passed)
        super().__init__(f"{table.name}: audit failed, last good version kept: {failed}")


@contextmanager
def staged_table(conn: duckdb.DuckDBPyConnection, table: Table) -> Iterator[Table]:
    """Open a transaction and yield the staging table for the caller to fill (in the table's schema).

    On normal exit the staged table replaces `table` and the transaction commits; on any exception
    everything rolls back and the previous `table` stays exactly as it was."""
    staging = table.staging
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema_sql}")
        conn.execute(f"DROP TABLE IF EXISTS {staging}")
        yield staging
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"ALTER TABLE {staging} RENAME TO {table.name_sql}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def audit(
    conn: duckdb.DuckDBPyConnection, staging: Table, table: Table, audits: Sequence[Audit]
) -> list[AuditResult]:
    """Run every audit on the staged table; raise AuditFailed (rolling back the caller's
    transaction) if any fails."""
    results = [a.run(conn, str(staging)) for a in audits]
    if not all(r.passed for r in results):
        raise AuditFailed(table, results)
    return results


@dataclass(frozen=True)
class Published:
    results: list[AuditResult]
    profile: dict
    reused: bool
    incremental: bool = False  # written by publish_changes: per-row audits saw the changed rows only
    changed: bool = True  # the table's content may differ from before (False: reused, or a merge of nothing)


def publish(
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    build: Callable[[Table], None],
    audits: Sequence[Audit],
) -> Published:
    """Build the new version with `build(staging_name)`, audit it, swap it in (`reuse_table` keeps
    a table whose inputs are unchanged instead)."""
    with staged_table(conn, table) as staging:
        build(staging)
        results = audit(conn, staging, table, audits)
        profile = table_profile(conn, staging)
    return Published(results, profile, reused=False)


def reuse_table(conn: duckdb.DuckDBPyConnection, table: Table, audits: Sequence[Audit]) -> Published | None:
    """Keep `table` as it is (its inputs are unchanged), audited again; None if it does not exist."""
    if not table.exists(conn):
        return None
    return Published(audit(conn, table, table, audits), table_profile(conn, table), reused=True, changed=False)


def publish_changes(
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    apply: Callable[[], tuple[str, str | None]],
    audits: Sequence[Audit],
) -> Published:
    """The incremental form of `publish`: `apply()` changes `table` in place and returns the names of
    the relations holding the rows it wrote and (a merge) the keys it rewrote. Audits that can run on
    those do, the others on the whole table; all inside one transaction, so a failure (a bad file, a
    failed audit) rolls the table back to its last good version."""
    conn.execute("BEGIN TRANSACTION")
    try:
        changed, keys = apply()
        results = [a.run(conn, changed, keys) if a.on_changes else a.run(conn, str(table)) for a in audits]
        if not all(r.passed for r in results):
            raise AuditFailed(table, results, incremental=True)
        profile = table_profile(conn, table)
        touched = any(conn.execute(f"SELECT count(*) > 0 FROM {r}").fetchone()[0] for r in (changed, keys) if r)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Published(results, profile, reused=False, incremental=True, changed=touched)


def table_profile(conn: duckdb.DuckDBPyConnection, table: Table, preview_rows: int = 5) -> dict:
    """Row count, schema and a small preview, for materialization metadata."""
    rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    schema = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [table.schema, table.name],
    ).fetchall()
    cursor = conn.execute(f"SELECT * FROM {table} LIMIT {int(preview_rows)}")
    names = [d[0] for d in cursor.description]
    return {"rows": rows, "schema": schema, "preview": (names, cursor.fetchall())}
