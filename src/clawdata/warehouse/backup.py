"""Backups of the warehouse's data, and putting them back (deploy/backup.sh runs these in a container
of the stack's user-code image, with the volumes mounted). Dagster-free.

    python -m clawdata.warehouse.backup backup TARGET_DIR
    python -m clawdata.warehouse.backup verify BACKUP_DIR   (before a restore changes anything)
    python -m clawdata.warehouse.backup restore BACKUP_DIR

A backup holds the published replica (silver and gold, as one run published them; copied from the
file as opened, so it never waits for a run), the inbox (every delivered file: bronze and its ledger
are rebuilt from them by the next run, and database sources reload their tables), and the highest
replica generation ever published (so that no generation number is used for two contents). Files
are readable by their owner only. Dagster's records are dumped beside them by deploy/backup.sh;
they may describe runs after the replica's publish, so a restore does not trust them for the
warehouse: clawdata.cli.reconcile marks what the restored warehouse holds as such.

A restore keeps what it would lose: inbox files that are not in the backup (or differ from it) are
moved aside into `.kept-aside-<time>/` of the inbox, listed, for the operator to deliver again.
"""

import hashlib
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

import duckdb

from clawdata import settings
from clawdata.warehouse import replica


def copy_replica(source: Path, target: Path) -> replica.Snapshot:
    """Copy the current version of the replica `source` to `target`; returns the version copied."""
    if target.exists():
        raise FileExistsError(f"{target} exists; a backup never overwrites one")
    if not source.is_file():
        raise replica.ReplicaMissing(f"no replica at {source}: nothing has been published yet")
    with source.open("rb") as version, target.open("xb") as out:  # this version, even if replaced now
        shutil.copyfileobj(version, out, 16 << 20)
    return replica.read_snapshot(target)


def backup(target: Path) -> str:
    os.umask(0o077)
    target.mkdir(parents=True, exist_ok=True)
    snapshot = copy_replica(settings.replica_path(), target / "warehouse.duckdb")
    inbox = settings.inbox_dir()
    with tarfile.open(target / "inbox.tar.gz", "w:gz") as archive:
        for path in sorted(inbox.iterdir()) if inbox.is_dir() else []:
            if path.is_file() and not path.name.startswith("."):
                archive.add(path, arcname=path.name)
    floor = max(snapshot.generation, replica.generation_floor(settings.replica_path()))
    (target / "generation.txt").write_text(f"{floor}\n")
    summary = (f"{snapshot.describe()}: " + ", ".join(f"{t} {n:,} rows" for t, n in snapshot.tables.items()))
    (target / "snapshot.txt").write_text(summary + "\n")
    return summary


class DamagedBackup(Exception):
    """A backup file that cannot be read whole: named before a restore stops or replaces anything."""


def verify(source: Path) -> str:
    """Read the backup's warehouse and inbox archive whole: a truncated or corrupt copy had been found
    out half-way through a restore, after the live warehouse was replaced with it. (deploy/backup.sh
    reads the Dagster dump whole with pg_restore the same way.) Returns what the backup holds."""
    archive_path, warehouse = source / "inbox.tar.gz", source / "warehouse.duckdb"
    try:
        with tarfile.open(archive_path) as archive:
            files = 0
            for member in archive:  # every member's bytes, through the end of the compressed stream
                if member.isfile():
                    with archive.extractfile(member) as data:
                        while data.read(16 << 20):
                            pass
                    files += 1
    except (OSError, EOFError, tarfile.TarError) as e:
        raise DamagedBackup(f"{archive_path} is damaged ({type(e).__name__}: {e}): restore another backup") from None
    try:
        with replica.connect(warehouse) as conn:
            snapshot = replica.snapshot_of(conn)
            for schema, table in conn.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                              "WHERE database_name = 'warehouse'").fetchall():
                conn.execute(f'SELECT count(*), bit_xor(hash(t)) FROM warehouse."{schema}"."{table}" AS t').fetchall()
    except duckdb.Error as e:
        raise DamagedBackup(f"{warehouse} is damaged ({str(e).splitlines()[0]}): restore another backup") from None
    return f"{snapshot.describe()}; {files} inbox file(s)"


def restore(source: Path) -> list[str]:
    """Put a backup's warehouse, replica and inbox back; returns the inbox files kept aside."""
    warehouse, served, inbox = settings.warehouse_path(), settings.replica_path(), settings.inbox_dir()
    kept = _keep_aside_what_the_backup_lacks(source / "inbox.tar.gz", inbox)
    with tarfile.open(source / "inbox.tar.gz") as archive:
        # Plain files at the top of the inbox only (a backup holds nothing else; no path leaves it).
        members = [m for m in archive.getmembers() if m.isfile() and "/" not in m.name and not m.name.startswith(".")]
        for member in members:
            with archive.extractfile(member) as data, (inbox / member.name).open("wb") as out:
                shutil.copyfileobj(data, out)
    # The warehouse starts again from the replica: silver and gold as published; bronze, the ledger
    # and dlt's state are rebuilt by the next run (from the inbox, and the databases in full).
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    _replace(source / "warehouse.duckdb", warehouse)
    Path(f"{warehouse}.wal").unlink(missing_ok=True)
    served.parent.mkdir(parents=True, exist_ok=True)
    floor = max(int((source / "generation.txt").read_text().strip() or 0) if (source / "generation.txt").exists() else 0,
                replica.generation_floor(served))
    _replace(source / "warehouse.duckdb", served)
    replica.record_generation_floor(served, floor)
    return kept


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _keep_aside_what_the_backup_lacks(archive_path: Path, inbox: Path) -> list[str]:
    with tarfile.open(archive_path) as archive:
        in_backup = {m.name: _digest(archive.extractfile(m).read()) for m in archive.getmembers() if m.isfile()}
    aside = inbox / f".kept-aside-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    kept = []
    for path in sorted(inbox.iterdir()) if inbox.is_dir() else []:
        if not path.is_file() or path.name.startswith("."):
            continue
        if in_backup.get(path.name) != _digest(path.read_bytes()):
            aside.mkdir(exist_ok=True)
            path.rename(aside / path.name)
            kept.append(f"{path.name} -> {aside / path.name}")
    return kept


def _replace(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("backup", "verify", "restore"):
        sys.exit("usage: python -m clawdata.warehouse.backup backup TARGET_DIR | verify BACKUP_DIR | restore BACKUP_DIR")
    try:
        if sys.argv[1] == "backup":
            print(backup(Path(sys.argv[2])))
        elif sys.argv[1] == "verify":
            print(f"backup read whole: {verify(Path(sys.argv[2]))}")
        else:
            kept = restore(Path(sys.argv[2]))
            for line in kept:
                print(f"kept aside (not in the backup): {line}")
            print(f"restored warehouse, replica and inbox from {sys.argv[2]}"
                  + (f"; {len(kept)} newer inbox file(s) kept aside, deliver them again to take them in" if kept else ""))
    except (FileExistsError, replica.ReplicaMissing, DamagedBackup) as e:
        sys.exit(f"error: {e}")
