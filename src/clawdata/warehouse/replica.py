"""The read path: a read-only replica of the served tables (silver and gold), published whole.

Readers never open the warehouse: while a run writes it DuckDB lets nobody else in. They open the
replica, a separate DuckDB file that is never changed in place. A publish writes the next version
beside it under a temporary name, makes it durable, and renames it over the replica (atomic on
POSIX file systems). A reader that has the file open keeps reading the version it opened (the old
file lives on, unnamed, until its last reader closes it; then the kernel frees its space); the next
open sees the new version. So a reader never waits for a writer and never sees a half-written file.

Each version carries one row in `clawdata_replica.snapshot`: its generation, when and by which run
it was published, and the row count of every table it holds.
"""

import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from clawdata.warehouse import ledger
from clawdata.warehouse.files import READS_FILES
from clawdata.warehouse.tables import BRONZE, row_count

SNAPSHOT_SCHEMA = "clawdata_replica"
SNAPSHOT_TABLE = f"{SNAPSHOT_SCHEMA}.snapshot"


class ReplicaMissing(Exception):
    pass


@dataclass(frozen=True)
class Snapshot:
    generation: int
    published_at: datetime
    run_id: str
    tables: dict[str, int]  # "schema.table" -> rows
    seconds: float  # how long the publish took
    bytes: int  # size of the published file
    versions: dict[str, str] | None = None  # the writer's versions of the tables (Dagster data versions)
    unreadable: tuple[str, ...] = ()  # views served as they are that no longer bind (this publish's, not stored)
    owned: tuple[str, ...] = ()  # "schema.table" of every served asset: a bare name means one of these

    def describe(self) -> str:
        return (f"replica generation {self.generation}, published {self.published_at:%Y-%m-%d %H:%M:%S} UTC "
                f"by run {self.run_id[:8]} ({len(self.tables)} tables)")


def _temporaries(replica: Path) -> list[Path]:
    return sorted(replica.parent.glob(f".{replica.name}.*.tmp*"))


# What readers never see: clawdata's and dlt's bookkeeping, and bronze's own tables (as delivered,
# before cleaning: those the ledger lists). A dbt model built into a schema `bronze` is served.
UNSERVED_SCHEMAS = ("_clawdata", "_clawdata_dlt")


def publish(warehouse: Path | str, replica: Path | str, run_id: str, versions: dict[str, str] | None = None,
            unserved: Sequence[str] = UNSERVED_SCHEMAS, owned: Sequence[str] = ()) -> Snapshot:
    """Copy every table and view of the warehouse but those of the `unserved` schemas into a new
    version of the replica, and rename it into place. Tables are found by schema and name, so dbt's
    custom schemas and seeds come along, and a view keeps what it reads.

    The caller must hold the warehouse's writer slot (the `duckdb_warehouse` pool): the copy reads
    the warehouse, and publishes must not run concurrently."""
    started = time.monotonic()
    replica = Path(replica)
    replica.parent.mkdir(parents=True, exist_ok=True)
    for leftover in _temporaries(replica):  # a publish that crashed; only one publishes at a time
        leftover.unlink(missing_ok=True)
    previous = read_snapshot(replica) if replica.exists() else None
    generation = max(previous.generation if previous else 0, generation_floor(replica)) + 1
    temporary = replica.with_name(f".{replica.name}.{generation}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if Path(f"{warehouse}.wal").exists():  # a writer did not close cleanly: the file alone is not the state
            counts, unreadable = _copy_tables(warehouse, temporary, unserved)
        else:
            counts, unreadable = _copy_file(warehouse, temporary, unserved)
        with duckdb.connect() as conn:
            conn.execute("ATTACH ? AS target", [str(temporary)])
            published_at = datetime.now(timezone.utc).replace(tzinfo=None)
            conn.execute(f"DROP SCHEMA IF EXISTS target.{SNAPSHOT_SCHEMA} CASCADE")  # a restored warehouse has one
            conn.execute(f"CREATE SCHEMA target.{SNAPSHOT_SCHEMA}")
            conn.execute(f"CREATE TABLE target.{SNAPSHOT_TABLE} (generation BIGINT, published_at TIMESTAMP, "
                         "run_id VARCHAR, tables JSON, publish_seconds DOUBLE, data_versions JSON, owned_tables JSON)")
            seconds = time.monotonic() - started
            conn.execute(f"INSERT INTO target.{SNAPSHOT_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [generation, published_at, run_id, json.dumps(counts), seconds, json.dumps(versions or {}),
                          json.dumps(sorted(owned))])
            conn.execute("DETACH target")  # checkpoints: the file is complete, no WAL beside it
        _fsync(temporary)
        os.replace(temporary, replica)
        _fsync(replica.parent)  # the rename itself survives a crash
        record_generation_floor(replica, generation)
    except BaseException:
        for path in (temporary, temporary.with_name(temporary.name + ".wal")):
            path.unlink(missing_ok=True)
        raise
    return Snapshot(generation, published_at, run_id, counts, time.monotonic() - started, replica.stat().st_size, versions,
                    tuple(unreadable), tuple(sorted(owned)))


def _generation_file(replica: Path) -> Path:
    return replica.with_name(f".{replica.name}.generation")


def generation_floor(replica: Path) -> int:
    """The highest generation ever published here: a restored replica may carry an older one, and a
    generation number must never name two contents."""
    try:
        return int(_generation_file(replica).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def record_generation_floor(replica: Path, generation: int) -> None:
    path = _generation_file(replica)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(f"{max(generation, generation_floor(replica))}\n")
    os.replace(temporary, path)


# dbt's scratch relations (`<model>__dbt_tmp`, `<model>__dbt_backup`): renamed or dropped as a model
# finishes, left behind only by a build stopped half-way; never served.
_SCRATCH = r".*__dbt_(tmp|backup)$"


def _bronze_tables(conn: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    """The tables clawdata's bronze layer wrote, as the warehouse's ledger lists them."""
    listed = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
                          "AND table_name = 'layers'", [catalog, ledger.SCHEMA]).fetchone()[0]
    return [name for (name,) in conn.execute(f"SELECT table_name FROM {_ident(catalog)}.{ledger.LAYERS}").fetchall()] \
        if listed else []


def _relations(conn: duckdb.DuckDBPyConnection, catalog: str, unserved: Sequence[str],
               bronze: Sequence[str]) -> list[tuple[str, str, str, bool]]:
    """(schema, name, kind, scratch) of every relation outside the `unserved` schemas but `bronze`'s
    tables, base tables first."""
    return conn.execute(
        "SELECT table_schema, table_name, table_type, regexp_matches(table_name, ?) FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_schema NOT IN (SELECT unnest(?)) "
        "AND NOT (table_schema = ? AND table_name IN (SELECT unnest(?))) "
        "ORDER BY table_type = 'VIEW', table_schema, table_name",
        [_SCRATCH, catalog, [*unserved, SNAPSHOT_SCHEMA], BRONZE, [*bronze]]).fetchall()


def _served(conn: duckdb.DuckDBPyConnection, catalog: str, unserved: Sequence[str],
            bronze: Sequence[str]) -> list[tuple[str, str, str]]:
    """(schema, name, kind) of what the replica serves, base tables first (views read them)."""
    return [(schema, name, kind) for schema, name, kind, scratch in _relations(conn, catalog, unserved, bronze)
            if not scratch]


def _copy_file(warehouse: Path | str, temporary: Path, unserved: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """The fast way: no writer has the file open (the caller holds the slot) and it was closed
    cleanly, so the file is the whole state; copy it (the kernel copies, ~1 s of CPU per GB instead
    of DuckDB re-encoding every row) and drop what is not served. The dropped tables' space stays in
    the file as free blocks: the replica is as large as the warehouse. A served view that read an
    unserved table, or a file (dbt-duckdb's `external` models are views over the file they write),
    becomes a table of its rows: a reader's version never changes under it, and a reader that mounts
    the replica alone reads it."""
    shutil.copyfile(warehouse, temporary)
    with duckdb.connect() as conn:
        conn.execute("ATTACH ? AS target", [str(temporary)])
        conn.execute("ATTACH ? AS source (READ_ONLY)", [str(warehouse)])
        bronze = _bronze_tables(conn, "source")
        views = [(s, n) for s, n, kind in _served(conn, "target", unserved, bronze) if kind == "VIEW"]
        broken = []
        for schema, name in views:  # read before anything is dropped: which views may read unserved tables
            definition = conn.execute("SELECT sql FROM duckdb_views() WHERE database_name = 'target' "
                                      "AND schema_name = ? AND view_name = ?", [schema, name]).fetchone()
            if definition and (any(f"{s}." in definition[0] or f'"{s}"' in definition[0] for s in (*unserved, BRONZE))
                               or READS_FILES.search(definition[0])):
                broken.append((schema, name))
        for schema in unserved:
            conn.execute(f"DROP SCHEMA IF EXISTS target.{_ident(schema)} CASCADE")
        for name in bronze:
            conn.execute(f"DROP TABLE IF EXISTS target.{_ident(BRONZE)}.{_ident(name)} CASCADE")
        for schema, name, kind, scratch in _relations(conn, "target", unserved, bronze):
            if scratch:
                conn.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS target.{_ident(schema)}.{_ident(name)} CASCADE")
        for schema, name in broken:
            relation = f"{_ident(schema)}.{_ident(name)}"
            if row_count(conn, schema, name, "source") is None:  # binds to nothing in the warehouse either
                continue
            conn.execute(f"DROP VIEW IF EXISTS target.{relation}")
            conn.execute(f"CREATE TABLE target.{relation} AS SELECT * FROM source.{relation}")
        conn.execute("DETACH source")
        served = _served(conn, "target", unserved, bronze)
        # A view left by a model deleted since, over a column renamed since, or over an external
        # model's file that is gone, binds to nothing: served as it is (it fails there as it does in
        # the warehouse), never a reason to fail the publish of everything else.
        counts = {f"{schema}.{name}": row_count(conn, schema, name, "target") for schema, name, _ in served}
        if not any(schema == BRONZE for schema, _, _ in served):
            conn.execute(f"DROP SCHEMA IF EXISTS target.{_ident(BRONZE)}")
        conn.execute("DETACH target")
    return {k: c for k, c in counts.items() if c is not None}, sorted(k for k, c in counts.items() if c is None)


def _copy_tables(warehouse: Path | str, temporary: Path, unserved: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """Table by table through DuckDB (reads the warehouse with its WAL; views become tables; a view
    that binds to nothing is left out, and named)."""
    with duckdb.connect() as conn:
        conn.execute("ATTACH ? AS source (READ_ONLY)", [str(warehouse)])
        conn.execute("ATTACH ? AS target", [str(temporary)])
        served = _served(conn, "source", unserved, _bronze_tables(conn, "source"))
        # (found before the transaction: a query that fails inside one aborts it; the caller holds
        # the writer slot, so nothing changes in between)
        unreadable = [(s, n) for s, n, _ in served if row_count(conn, s, n, "source") is None]
        counts = {}
        conn.execute("BEGIN TRANSACTION")  # every table read from one state of the warehouse
        for schema, name, _ in served:
            relation = f"{_ident(schema)}.{_ident(name)}"
            if (schema, name) in unreadable:
                continue
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS target.{_ident(schema)}")
            conn.execute(f"CREATE TABLE target.{relation} AS SELECT * FROM source.{relation}")
            counts[f"{schema}.{name}"] = conn.execute(f"SELECT count(*) FROM target.{relation}").fetchall()[0][0]
        conn.execute("COMMIT")
        conn.execute("DETACH target")
    return counts, [f"{s}.{n}" for s, n in unreadable]


# Where a reader's connection keeps the views of bare names (_bare_names_read_the_assets).
BARE_NAMES = "clawdata_bare_names"


def connect(replica: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current version; it keeps reading that version until closed."""
    replica = Path(replica)
    if not replica.is_file():
        raise ReplicaMissing(
            f"no replica at {replica} yet: it is published at the end of every successful run that "
            "builds silver or gold (e.g. `clawdata dagster materialize --all`)")
    # An in-memory database that attaches the file, not the file opened directly: DuckDB caches one
    # database per path and process, which would keep serving a version that has since been replaced.
    conn = duckdb.connect()
    try:
        conn.execute("ATTACH ? AS warehouse (READ_ONLY)", [str(replica)])
        conn.execute("USE warehouse")
        use_every_schema(conn, "warehouse")
        _bare_names_read_the_assets(conn, "warehouse")
    except BaseException:
        conn.close()
        raise
    return conn


def use_every_schema(conn: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Readers name tables without their schema (`slv_customers`, `dim_customers`): search main
    first, then silver, then every other schema of the file."""
    schemas = [s for (s,) in conn.execute(
        "SELECT DISTINCT schema_name FROM duckdb_tables() WHERE database_name = ? UNION "
        "SELECT DISTINCT schema_name FROM duckdb_views() WHERE database_name = ? AND NOT internal", [catalog, catalog]).fetchall()]
    ordered = ["main", *(["silver"] if "silver" in schemas else []), *sorted(s for s in schemas if s not in ("main", "silver"))]
    conn.execute(f"SET search_path = '{','.join(f'{catalog}.{s}' for s in ordered)}'")


def _bare_names_read_the_assets(conn: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """A name in several schemas, one of them a served asset's table (a model moved by `+schema:`
    leaves its old table behind, as dbt does): the bare name reads the asset's, whatever the search
    path's order, through a view first in the search path. The view is in a catalog of its own, not
    DuckDB's `temp`: a temporary view is in schema `main` of `temp`, which DuckDB searches first for
    `main.NAME` too, so `main.mrr` read the moved model instead of the table left in main."""
    try:
        owned = set(json.loads(conn.execute(f"SELECT owned_tables FROM {catalog}.{SNAPSHOT_TABLE}").fetchone()[0] or "[]"))
    except duckdb.Error:  # a replica published by an earlier clawdata: no list
        return
    places: dict[str, list[str]] = {}
    for schema, name in conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? UNION ALL "
            "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal",
            [catalog, catalog]).fetchall():
        places.setdefault(name, []).append(schema)
    chosen = {name: mine[0] for name, schemas in places.items()
              if len(schemas) > 1 and len(mine := [s for s in schemas if f"{s}.{name}" in owned]) == 1}
    if not chosen:
        return
    conn.execute(f"ATTACH ':memory:' AS {BARE_NAMES}")
    conn.execute(f"CREATE SCHEMA {BARE_NAMES}.{BARE_NAMES}")
    for name, schema in chosen.items():
        conn.execute(f"CREATE VIEW {BARE_NAMES}.{BARE_NAMES}.{_ident(name)} AS "
                     f"SELECT * FROM {catalog}.{_ident(schema)}.{_ident(name)}")
    path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    conn.execute(f"SET search_path = '{BARE_NAMES}.{BARE_NAMES},{path}'")


def snapshot_of(conn: duckdb.DuckDBPyConnection) -> Snapshot:
    cursor = conn.execute(f"SELECT * FROM {SNAPSHOT_TABLE}")  # by name: older versions lack later columns
    row = dict(zip([d[0] for d in cursor.description], cursor.fetchall()[0]))
    return Snapshot(row["generation"], row["published_at"], row["run_id"], json.loads(row["tables"]),
                    row["publish_seconds"], 0, json.loads(row.get("data_versions") or "{}"),
                    owned=tuple(json.loads(row.get("owned_tables") or "[]")))


def read_snapshot(replica: Path | str) -> Snapshot:
    with connect(replica) as conn:
        snapshot = snapshot_of(conn)
    return replace(snapshot, bytes=Path(replica).stat().st_size)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
