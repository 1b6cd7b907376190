"""What each layer has taken in, kept in the warehouse itself (schema `_clawdata`), so that a daily
delivery costs what it contains, not what the warehouse holds.

- `files`: every delivered file bronze holds, with its fingerprint (size and modification time, as
  the inbox sensor sees it), rows and the batch that loaded it. A file whose fingerprint changed is
  a re-delivery: its rows are replaced.
- `layers`: per table, the code version that built it, the last batch it wrote, the batch of its
  last full build and (silver) the bronze batch it has merged up to.
- `"<table>__changes"`: per table, the keys (bronze) or the old and new rows (silver) each batch
  changed. Silver re-deduplicates only the keys bronze changed; gold's incremental dbt models
  recompute only what the silver changes touch (dbt/macros/clawdata_changes.sql). Each log is
  emptied once its consumer has taken it in.

Batches come from one sequence, so every layer's batches are ordered in time. The state lives in
the warehouse, not in Dagster's run storage, so it is written in the same DuckDB transaction as the
data it describes: a failed step rolls back both, and a restored backup carries its own state.
"""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from clawdata import settings

SCHEMA = "_clawdata"
FILES = f"{SCHEMA}.files"
LAYERS = f"{SCHEMA}.layers"


def file_fingerprint(path: Path) -> str:
    """A file's state as the inbox sensor, bronze's ledger and its reuse compare it: size, modification
    time and, for a delivery, the inode's change time. A correction copied over a file with its old
    modification time (`cp -p`, `rsync -t`, an archive) is a change; so is a file made readable
    after its run failed on it. The sample's files (in the image, a checkout) have no change time."""
    stat = path.stat()
    delivered = not path.is_relative_to(settings.sample_dir())
    return f"{stat.st_size}:{stat.st_mtime_ns}" + (f":{stat.st_ctime_ns}" if delivered else "")


def ensure(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {SCHEMA}.batch")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {FILES} (table_name VARCHAR, file VARCHAR, fingerprint VARCHAR, "
                 "rows BIGINT, batch BIGINT, loaded_at TIMESTAMP)")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {LAYERS} (table_name VARCHAR PRIMARY KEY, code_version VARCHAR, "
                 "last_batch BIGINT, full_batch BIGINT, merged_batch BIGINT)")


def exists(conn: duckdb.DuckDBPyConnection) -> bool:
    return conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = 'files'",
                        [SCHEMA]).fetchone()[0] > 0


def next_batch(conn: duckdb.DuckDBPyConnection) -> int:
    return conn.execute(f"SELECT nextval('{SCHEMA}.batch')").fetchone()[0]


def changes_table(table: str) -> str:
    return f'{SCHEMA}."{table}__changes"'


@dataclass(frozen=True)
class Layer:
    code_version: str | None
    last_batch: int
    full_batch: int
    merged_batch: int | None


def layer(conn: duckdb.DuckDBPyConnection, table: str) -> Layer | None:
    row = conn.execute(f"SELECT code_version, last_batch, full_batch, merged_batch FROM {LAYERS} WHERE table_name = ?",
                       [table]).fetchone()
    return Layer(*row) if row else None


def silver_layers(conn: duckdb.DuckDBPyConnection) -> dict[str, Layer]:
    """The layers that merge from bronze (silver tables), by table."""
    rows = conn.execute(f"SELECT table_name, code_version, last_batch, full_batch, merged_batch FROM {LAYERS} "
                        "WHERE merged_batch IS NOT NULL").fetchall()
    return {name: Layer(*rest) for name, *rest in rows}


def record_layer(conn: duckdb.DuckDBPyConnection, table: str, code_version: str | None, batch: int,
                 full: bool, merged_batch: int | None = None) -> None:
    previous = layer(conn, table)
    full_batch = batch if full or previous is None else previous.full_batch
    conn.execute(f"INSERT OR REPLACE INTO {LAYERS} VALUES (?, ?, ?, ?, ?)",
                 [table, code_version, batch, full_batch, merged_batch])


def loaded_files(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """file -> fingerprint, for the files `table` holds."""
    return dict(conn.execute(f"SELECT file, fingerprint FROM {FILES} WHERE table_name = ?", [table]).fetchall())


def file_history(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """(file, rows, batch, loaded_at) of the files `table` holds, the latest loads first."""
    return conn.execute(f"SELECT file, rows, batch, loaded_at FROM {FILES} WHERE table_name = ? "
                        "ORDER BY batch DESC, file", [table]).fetchall()


def forget_files(conn: duckdb.DuckDBPyConnection, table: str, files: list[str] | None = None) -> None:
    """Drop the ledger rows of `files` (all of the table's when None)."""
    if files is None:
        conn.execute(f"DELETE FROM {FILES} WHERE table_name = ?", [table])
    elif files:
        conn.execute(f"DELETE FROM {FILES} WHERE table_name = ? AND file IN (SELECT unnest(?))", [table, files])


def record_files(conn: duckdb.DuckDBPyConnection, table: str, loaded: list[tuple[str, str, int]], batch: int) -> None:
    """`loaded`: (file, fingerprint, rows) of the files just loaded."""
    for file, fingerprint, rows in loaded:
        conn.execute(f"INSERT INTO {FILES} VALUES (?, ?, ?, ?, ?, current_timestamp)", [table, file, fingerprint, rows, batch])
