"""The warehouse connection for assets."""

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from dagster_duckdb import DuckDBResource


@contextmanager
def connect(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDBResource.get_connection, closed on failure too.

    dagster-duckdb 0.29 closes the connection only when the block succeeds; after a failure the file
    lock would outlive the step (until garbage collection) while the pool slot is already free, and
    the next writer would hit `Could not set lock on file`.
    """
    with resource.get_connection() as conn:
        try:
            yield conn
        finally:
            conn.close()
