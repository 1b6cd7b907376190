"""For readers outside Dagster (tests, backups, ad-hoc queries): a read-only connection that waits.

While a run writes, DuckDB refuses every other process, readers included. Inside Dagster that cannot
happen (writers share one pool slot; status reads Dagster's records). Outside it, retry with a
bounded, jittered backoff, then fail with a message that says what holds the file.
"""

import random
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

from clawdata.warehouse.replica import use_every_schema


class WarehouseBusy(Exception):
    pass


@contextmanager
def read_only(path: Path | str, timeout: float = 60.0, first_delay: float = 0.05, max_delay: float = 2.0):
    """A connection with the warehouse attached read-only as `warehouse` (and in use).

    An in-memory connection that attaches the file, rather than the file opened read-only, so the
    caller may attach other databases writable beside it (a backup target)."""
    deadline, delay = time.monotonic() + timeout, first_delay
    conn = duckdb.connect()
    try:
        while True:
            try:
                conn.execute("ATTACH ? AS warehouse (READ_ONLY)", [str(path)])
                break
            except duckdb.IOException as e:
                if "lock" not in str(e).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"{path} is held by a writer (a run is materializing) for over {timeout:.0f} s; "
                        "try again when it ends"
                    ) from None
                time.sleep(random.uniform(0, delay))  # full jitter: concurrent readers spread out
                delay = min(delay * 2, max_delay)
        conn.execute("USE warehouse")
        use_every_schema(conn, "warehouse")
        yield conn
    finally:
        conn.close()


def table_checksum(conn: duckdb.DuckDBPyConnection, table: str) -> tuple[int, str]:
    """Row count and an order-independent checksum of a table's full contents."""
    relation = table if "." in table or '"' in table else f'"{table}"'  # a name, or a schema.table relation
    return conn.execute(
        f"SELECT count(*), coalesce(md5(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR))), '') "
        f"FROM {relation} AS t"
    ).fetchone()
