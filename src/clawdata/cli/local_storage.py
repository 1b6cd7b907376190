"""The local instance's event log: Dagster's SQLite event log, with its connections kept open.

Dagster's `SqliteEventLogStorage._connect` builds a SQLAlchemy engine, opens the file, runs one
transaction and throws both away, for every write: a run's event costs 3.5 ms, an asset event 7.5 ms
(it is mirrored into the index shard), and a small run writes 300 of them (each check is planned,
then evaluated). Keeping one open connection per shard costs 1.4 ms and 2.3 ms (100 writes of
each kind into a scratch folder, on the 2-core host). Nothing else changes: the same files, one
transaction per write, and every use still under the storage's own lock, so one connection per
shard is never shared by two threads at once.

Each connection syncs the write-ahead log at checkpoints, not at every commit (`synchronous=NORMAL`,
SQLite's advice for WAL, the journal Dagster gives every shard): a commit waited 2.7-3.2 ms for the
disk, and a 1k run makes ~500 (0.05-0.17 ms without). A commit still survives the process crashing;
a power cut may lose the last ones, never the file's consistency.

`has_table`, which Dagster asks twice for each asset check (planned, evaluated) and for each
materialization with tags, to learn which migrations ran, builds a fresh engine on the index file each
time, as `_connect` did: a table once found is remembered. Dagster's migrations only add tables, and
`wipe` deletes rows, never the index file (as Dagster's own `supports_global_concurrency_limits`, a
cached property, assumes). One not found is asked again: `dagster instance migrate` may add it while
this process lives. Lock-free on purpose: `_wipe_index` asks while holding `_db_lock`.

Why a private override: Dagster has no setting for it. The members used here are checked in
tests/test_private_apis.py, so an upgrade that changes them fails there, by name.
"""

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import create_engine, event
from sqlalchemy.pool import StaticPool

# Open shards kept per process: the index, and the runs being written or read. A long-lived process
# (`dagster dev`'s webserver reading old runs) closes the least recently used beyond this.
OPEN_SHARDS = 8
BUSY_TIMEOUT_S = 30  # as the parent's SQLITE_BUSY_TIMEOUT_SECONDS: another process may hold the write lock


class ClawdataSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables_found: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "ClawdataSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)  # the parent's builds the parent's class

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str):
        if self._engines_pid != os.getpid():  # a forked child: never share the parent's open files
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(self.conn_string_for_shard(shard), poolclass=StaticPool,
                               connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})
        event.listen(engine, "connect", _wal_synced_at_checkpoints)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_SHARDS:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables_found:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables_found.add(table_name)
        return found

    def _close_all(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._close_all()  # the run files are deleted: no connection may keep writing to one
        super().wipe()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()


def _wal_synced_at_checkpoints(dbapi_connection, _record) -> None:
    # WAL first (Dagster's _initdb sets it too, after this connect): NORMAL is safe in WAL mode alone.
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
