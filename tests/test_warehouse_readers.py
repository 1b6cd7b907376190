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


def test_dbt_waits_out_a_reader_holding_the_warehouse(tmp_path, monkeypatch):
    """A reader outside Dagster (a query, a reconcile, a test polling) may hold the file the moment a
    gold step's dbt opens it: dbt waits (the generated profile's retries), as the Python steps'
    DuckDBResource does. A stack run once failed on it: `Could not set lock on file`."""
    from clawdata.gold import project as gold_project, runner

    project_dir = tmp_path / "project"
    (project_dir / "models").mkdir(parents=True)
    (project_dir / "dbt_project.yml").write_text("name: readers\nversion: '1.0'\nprofile: theirs\n")
    (project_dir / "models" / "answer.sql").write_text("select 42 as answer")
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    monkeypatch.setenv("CLAWDATA_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.delenv("CLAWDATA_DBT_PROFILES_DIR", raising=False)
    profiles = gold_project.profiles_dir(project_dir, gold_project.project_config(project_dir))
    manifest = runner.parse(project_dir, profiles, None, project_dir / "target")

    reader = hold_lock(warehouse, 5, mode="r")  # from before dbt starts (it opens the file within ~2 s)
    try:
        build = runner.DbtBuild(manifest, project_dir, profiles, None, ["answer"])
        results = [event["data"]["status"] for event in build]
    finally:
        reader.kill()
    assert build.success and results == ["OK"], (build.error, build.node_errors)
    with read_only(warehouse) as conn:
        assert conn.execute("select answer from answer").fetchone() == (42,)
