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

    def describe(self) -> str:
        return (f"replica generation {self.generation}, published {self.published_at:%Y-%m-%d %H:%M:%S} UTC "
                f"by run {self.run_id[:8]} ({len(self.tables)} tables)")


def _temporaries(replica: Path) -> list[Path]:
    return sorted(replica.parent.glob(f".{replica.name}.*.tmp*"))


def publish(warehouse: Path | str, replica: Path | str, tables: Sequence[str], run_id: str,
            versions: dict[str, str] | None = None) -> Snapshot:
    """Copy `tables` (names, in whichever schema holds them) from the warehouse into a new version of
    the replica, and rename it into place.

    The caller must hold the warehouse's writer slot (the `duckdb_warehouse` pool): the copy reads
    the warehouse, and publishes must not run concurrently."""
    started = time.monotonic()
    replica = Path(replica)
    replica.parent.mkdir(parents=True, exist_ok=True)
    for leftover in _temporaries(replica):  # a publish that crashed; only one publishes at a time
        leftover.unlink(missing_ok=True)
    previous = read_snapshot(replica) if replica.exists() else None
    generation = previous.generation + 1 if previous else 1
    temporary = replica.with_name(f".{replica.name}.{generation}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if Path(f"{warehouse}.wal").exists():  # a writer did not close cleanly: the file alone is not the state
            counts = _copy_tables(warehouse, temporary, tables)
        else:
            counts = _copy_file(warehouse, temporary, tables)
        with duckdb.connect() as conn:
            conn.execute("ATTACH ? AS target", [str(temporary)])
            published_at = datetime.now(timezone.utc).replace(tzinfo=None)
            conn.execute(f"DROP SCHEMA IF EXISTS target.{SNAPSHOT_SCHEMA} CASCADE")  # a restored warehouse has one
            conn.execute(f"CREATE SCHEMA target.{SNAPSHOT_SCHEMA}")
            conn.execute(f"CREATE TABLE target.{SNAPSHOT_TABLE} (generation BIGINT, published_at TIMESTAMP, "
                         "run_id VARCHAR, tables JSON, publish_seconds DOUBLE, data_versions JSON)")
            seconds = time.monotonic() - started
            conn.execute(f"INSERT INTO target.{SNAPSHOT_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                         [generation, published_at, run_id, json.dumps(counts), seconds, json.dumps(versions or {})])
            conn.execute("DETACH target")  # checkpoints: the file is complete, no WAL beside it
        _fsync(temporary)
        os.replace(temporary, replica)
        _fsync(replica.parent)  # the rename itself survives a crash
    except BaseException:
        for path in (temporary, temporary.with_name(temporary.name + ".wal")):
            path.unlink(missing_ok=True)
        raise
    return Snapshot(generation, published_at, run_id, counts, time.monotonic() - started, replica.stat().st_size, versions)


def _copy_file(warehouse: Path | str, temporary: Path, tables: Sequence[str]) -> dict[str, int]:
    """The fast way: no writer has the file open (the caller holds the slot) and it was closed
    cleanly, so the file is the whole state; copy it (the kernel copies, ~1 s of CPU per GB instead
    of DuckDB re-encoding every row) and drop what is not served. The dropped tables' space stays in
    the file as free blocks: the replica is as large as the warehouse."""
    shutil.copyfile(warehouse, temporary)
    with duckdb.connect() as conn:
        conn.execute("ATTACH ? AS target", [str(temporary)])
        present = conn.execute("SELECT table_schema, table_name, table_type FROM information_schema.tables "
                               "WHERE table_catalog = 'target' ORDER BY table_type = 'VIEW' DESC").fetchall()
        for schema, name, kind in present:
            if name not in tables:
                conn.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} target.{_ident(schema)}.{_ident(name)}")
        counts = {f"{schema}.{name}": conn.execute(f"SELECT count(*) FROM target.{_ident(schema)}.{_ident(name)}").fetchall()[0][0]
                  for schema, name, _ in present if name in tables}
        conn.execute("DETACH target")
    return counts


def _copy_tables(warehouse: Path | str, temporary: Path, tables: Sequence[str]) -> dict[str, int]:
    """Table by table through DuckDB (reads the warehouse with its WAL; views become tables)."""
    with duckdb.connect() as conn:
        conn.execute("ATTACH ? AS source (READ_ONLY)", [str(warehouse)])
        conn.execute("ATTACH ? AS target", [str(temporary)])
        found = dict(conn.execute(
            "SELECT table_name, table_schema FROM information_schema.tables "
            "WHERE table_catalog = 'source' AND table_name IN (SELECT unnest(?))", [list(tables)]).fetchall())
        counts = {}
        conn.execute("BEGIN TRANSACTION")  # every table read from one state of the warehouse
        for name in tables:
            if name not in found:
                continue  # never built yet: the snapshot lists what it holds
            schema = found[name]
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS target.{_ident(schema)}")
            conn.execute(f"CREATE TABLE target.{_ident(schema)}.{_ident(name)} AS "
                         f"SELECT * FROM source.{_ident(schema)}.{_ident(name)}")
            counts[f"{schema}.{name}"] = conn.execute(
                f"SELECT count(*) FROM target.{_ident(schema)}.{_ident(name)}").fetchall()[0][0]
        conn.execute("COMMIT")
        conn.execute("DETACH target")
    return counts


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
    except BaseException:
        conn.close()
        raise
    return conn


def snapshot_of(conn: duckdb.DuckDBPyConnection) -> Snapshot:
    cursor = conn.execute(f"SELECT * FROM {SNAPSHOT_TABLE}")  # by name: older versions lack later columns
    row = dict(zip([d[0] for d in cursor.description], cursor.fetchall()[0]))
    return Snapshot(row["generation"], row["published_at"], row["run_id"], json.loads(row["tables"]),
                    row["publish_seconds"], 0, json.loads(row.get("data_versions") or "{}"))


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
