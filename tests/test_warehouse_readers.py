"""Readers outside Dagster: they wait out a writer (bounded, jittered), then fail clearly; backups
are consistent copies."""

import subprocess
import sys
import time

import duckdb
import pytest

from clawdata.warehouse.readers import WarehouseBusy, read_only, table_checksum

HOLD = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == 'r'); "
        "print('locked', flush=True); time.sleep(float(sys.argv[2]))")


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE t AS SELECT range AS id, 'x' || range AS v FROM range(1000)")
    return path


def hold_lock(path, seconds, mode="w"):
    """Another process holding the file: a writer, as a run does ("w"), or a reader ("r")."""
    writer = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds), mode], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "locked"
    return writer


def test_reader_fails_clearly_after_its_bound(warehouse):
    writer = hold_lock(warehouse, 30)
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseBusy, match="held by a writer"):
            with read_only(warehouse, timeout=1.5):
                pass
        assert time.monotonic() - started < 10
    finally:
        writer.kill()


def test_reader_waits_for_the_writer_to_finish(warehouse):
    writer = hold_lock(warehouse, 2)
    with read_only(warehouse, timeout=60) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1000
    writer.wait()

