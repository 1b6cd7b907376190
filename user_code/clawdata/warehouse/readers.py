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


class WarehouseBusy(Exception):
    pass


@contextmanager
def read_only(path: Path | str, timeout: float = 60.0, first_delay: float = 0.05, max_delay: float = 2.0):
    deadline, delay = time.monotonic() + timeout, first_delay
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() >= deadline:
                if "lock" in str(e).lower():
                    raise WarehouseBusy(
                        f"{path} is held by a writer (a run is materializing) for over {timeout:.0f} s; "
                        "try again when it ends"
                    ) from None
                raise
            time.sleep(random.uniform(0, delay))  # full jitter: concurrent readers spread out
            delay = min(delay * 2, max_delay)
    try:
        yield conn
    finally:
        conn.close()


def table_checksum(conn: duckdb.DuckDBPyConnection, table: str) -> tuple[int, str]:
    """Row count and an order-independent checksum of a table's full contents."""
    return conn.execute(
        f'SELECT count(*), coalesce(md5(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR))), \'\') '
        f'FROM "{table}" AS t'
    ).fetchone()
