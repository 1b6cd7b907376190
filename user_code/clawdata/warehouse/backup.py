"""A consistent copy of the warehouse file, taken through DuckDB (never a file copy mid-write).

    python -m clawdata.warehouse.backup SOURCE TARGET

Waits (bounded, with backoff) while a run holds the file, then copies every table into a new file.
"""

import sys
from pathlib import Path

from clawdata.warehouse.readers import read_only


def copy_warehouse(source: Path, target: Path, timeout: float = 600) -> int:
    """Copy every table of `source` into a new database file `target`; returns the table count."""
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
        sys.exit("usage: python -m clawdata.warehouse.backup SOURCE TARGET")
    count = copy_warehouse(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{count} tables copied to {sys.argv[2]}")
