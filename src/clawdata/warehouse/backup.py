"""Backups of the warehouse's data.

    python -m clawdata.warehouse.backup REPLICA TARGET

copies the published replica (silver and gold; warehouse/replica.py) into TARGET and says which
published version it holds. It never waits for a run: a published version is never changed in
place, so copying the file opened once is consistent even if a newer version is published meanwhile.
Bronze is not in it: it is rebuilt from the delivered files, which a backup keeps beside it.
"""

import shutil
import sys
from pathlib import Path

from clawdata.warehouse import replica
from clawdata.warehouse.readers import read_only


def copy_replica(source: Path, target: Path) -> replica.Snapshot:
    """Copy the current version of the replica `source` to `target`; returns the version copied."""
    if target.exists():
        raise FileExistsError(f"{target} exists; a backup never overwrites one")
    if not source.is_file():
        raise replica.ReplicaMissing(f"no replica at {source}: nothing has been published yet")
    with source.open("rb") as version, target.open("xb") as out:  # this version, even if replaced now
        shutil.copyfileobj(version, out, 16 << 20)
    return replica.read_snapshot(target)


def copy_warehouse(source: Path, target: Path, timeout: float = 600) -> int:
    """Copy every table of the warehouse `source` into a new file `target` (waits while a run holds
    it); returns the table count."""
    if target.exists():
        raise FileExistsError(f"{target} exists; a backup never overwrites one")
    with read_only(source, timeout=timeout) as conn:
        conn.execute("ATTACH ? AS backup", [str(target)])
        conn.execute("COPY FROM DATABASE warehouse TO backup")
        tables = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'backup'").fetchone()[0]
        conn.execute("DETACH backup")
    return tables


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m clawdata.warehouse.backup REPLICA TARGET")
    try:
        snapshot = copy_replica(Path(sys.argv[1]), Path(sys.argv[2]))
    except (FileExistsError, replica.ReplicaMissing) as e:
        sys.exit(f"error: {e}")
    print(f"{sys.argv[2]}: {snapshot.describe()}: " + ", ".join(f"{t} {n:,} rows" for t, n in snapshot.tables.items()))
