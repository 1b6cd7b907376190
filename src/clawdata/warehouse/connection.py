"""The warehouse connection for assets."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import DagsterExecutionInterruptedError
from dagster_duckdb import DuckDBResource

from clawdata.warehouse.tables import migrate_to_layer_schemas

_migrated: set[str] = set()
QUERY_INTERRUPTED = "Query interrupted"  # DuckDB's words (tests/test_cli_interrupt.py checks them)


@contextmanager
def connect(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDBResource.get_connection, closed on failure too.

    dagster-duckdb 0.29 closes the connection only when the block succeeds; after a failure the file
    lock would outlive the step (until garbage collection) while the pool slot is already free, and
    the next writer would hit `Could not set lock on file`.

    The first connection of a process to a warehouse from before the layer schemas moves its bronze
    and silver tables there, before any step writes (tables.migrate_to_layer_schemas).
    """
    # A new warehouse's folder (dagster-duckdb retries a failed open for minutes before it says so).
    Path(resource.database).parent.mkdir(parents=True, exist_ok=True)
    with resource.get_connection() as conn:
        try:
            if resource.database not in _migrated:  # once per process and file: a cheap look at the ledger
                migrate_to_layer_schemas(conn)
                _migrated.add(resource.database)
            yield conn
        except RuntimeError as e:
            # DuckDB stops a query at SIGINT (Ctrl-C; the run worker makes a container's SIGTERM one)
            # with a plain RuntimeError, which Dagster took for the step's own failure: a run stopped
            # by `make down` was failed and not retried, Ctrl-C said as an error. It is the interrupt.
            if str(e) == QUERY_INTERRUPTED:
                raise DagsterExecutionInterruptedError(f"interrupted in a warehouse query ({e})") from e
            raise
        finally:
            conn.close()
