"""The local instance (cli/local.py, cli/local_storage.py), in-process: its event log keeps its
SQLite connections open and stays Dagster's own files, readable by Dagster's stock class; a moved
home keeps its own history."""

import shutil

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from clawdata.cli import local
from clawdata.cli.local_storage import OPEN_SHARDS, ClawdataSqliteEventLogStorage


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers():
    yield dg.Output(3)
    yield dg.AssetCheckResult(passed=True)


def test_runs_write_dagsters_own_files_through_open_connections(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = local.local_instance()
    storage = instance.event_log_storage
    assert isinstance(storage, ClawdataSqliteEventLogStorage)
    runs = [dg.materialize([numbers], instance=instance).run_id for _ in range(OPEN_SHARDS + 3)]
    assert len(storage._engines) <= OPEN_SHARDS  # a long-lived process does not keep every run's file open

    stock = SqliteEventLogStorage(str(tmp_path / "home" / "history" / "runs"))  # Dagster's class, the same files
    for run_id in (runs[0], runs[-1]):
        ours = [r.event_log_entry.dagster_event_type for r in storage.get_records_for_run(run_id).records]
        assert ours == [r.event_log_entry.dagster_event_type for r in stock.get_records_for_run(run_id).records]
        assert "ASSET_CHECK_EVALUATION" in {t.value for t in ours if t}
    latest = instance.get_latest_materialization_event(dg.AssetKey("numbers"))
    assert latest.run_id == runs[-1]
    check = storage.get_latest_asset_check_execution_by_key([dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")])
    assert check[dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")].run_id == runs[-1]

    instance.wipe()  # deletes the run files: the open connections are closed first, writes go on after
    assert set(storage._engines) <= {"index"} and not storage.get_records_for_run(runs[-1]).records
    after = dg.materialize([numbers], instance=instance).run_id
    assert stock.get_records_for_run(after).records
    instance.dispose()


def test_a_moved_home_keeps_its_own_event_log(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "first"))
    local.dagster_home()
    shutil.move(tmp_path / "first", tmp_path / "second")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "second"))
    instance = local.local_instance()
    assert instance.event_log_storage._base_dir == str(tmp_path / "second" / "history" / "runs")
    assert not (tmp_path / "first").exists()
    instance.dispose()


def test_a_home_made_by_an_earlier_clawdata_gets_the_event_log_and_keeps_its_history(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(local.LOCAL_DAGSTER_YAML.replace(local.EVENT_LOG, ""))  # as created before
    with dg.DagsterInstance.from_config(str(home)) as before:
        assert type(before.event_log_storage) is SqliteEventLogStorage
        run_id = dg.materialize([numbers], instance=before).run_id
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = local.local_instance()
    assert isinstance(instance.event_log_storage, ClawdataSqliteEventLogStorage)
    assert instance.get_latest_materialization_event(dg.AssetKey("numbers")).run_id == run_id
    assert instance.event_log_storage.get_records_for_run(run_id).records
    instance.dispose()


def test_a_table_once_found_is_not_looked_up_again(tmp_path, monkeypatch):
    """Each check result asks whether its table exists; Dagster's has_table opens the index file anew
    for every ask. The local event log asks once per table found, and again for one not found."""
    asked = []
    stock_has_table = SqliteEventLogStorage.has_table
    monkeypatch.setattr(SqliteEventLogStorage, "has_table", lambda self, name: asked.append(name) or stock_has_table(self, name))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = local.local_instance()
    for _ in range(3):
        dg.materialize([numbers], instance=instance)
    assert asked and len(asked) == len(set(asked)), asked  # each table once, however many runs and checks
    storage = instance.event_log_storage
    assert not storage.has_table("no_such_table") and not storage.has_table("no_such_table")
    assert asked.count("no_such_table") == 2  # a missing table may be added by a migration: asked each time
    instance.dispose()


def test_a_slot_a_finished_run_still_holds_is_given_back_by_the_next_run(tmp_path, monkeypatch):
    """A run that ended without giving the warehouse slot back (it ended FAILURE, its output closed
    under it) made every later run wait for it: the next local run frees it, and says so."""
    from clawdata import settings

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = local.local_instance()
    run = dg.materialize([numbers], instance=instance, raise_on_error=False).dagster_run
    storage = instance.event_log_storage
    storage.set_concurrency_slots(settings.WAREHOUSE_POOL, 1)
    assert storage.claim_concurrency_slot(settings.WAREHOUSE_POOL, run.run_id, "numbers").is_claimed
    said = local.release_dead_runs(instance)
    assert storage.get_concurrency_info(settings.WAREHOUSE_POOL).claimed_slots == []
    assert [e.detail for e in said] == [f"run {run.run_id[:8]} ended holding the warehouse: released"]
    assert local.release_dead_runs(instance) == []  # once
    instance.dispose()


def test_the_event_log_syncs_its_write_ahead_log_at_checkpoints_not_per_commit(tmp_path, monkeypatch):
    """synchronous=NORMAL is only safe with a write-ahead log: both, on every shard a run writes."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = local.local_instance()
    run_id = dg.materialize([numbers], instance=instance).run_id
    storage = instance.event_log_storage
    for shard in ("index", run_id):
        with storage._connect(shard) as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    instance.dispose()


def test_a_run_is_left_to_its_live_process_and_released_once_its_pid_names_a_later_one(tmp_path, monkeypatch):
    """A live run of `dagster dev` (its worker's command line names neither clawdata nor dagster) was
    marked failed, and its warehouse slot freed, by the next local command. A process is judged by
    when it started: the one running a run started before it was recorded running it; a pid taken
    since by another program started after."""
    import socket
    import subprocess
    import sys
    import time

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = local.local_instance()
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]

    def unfinished_run_of(process: subprocess.Popen) -> dg.DagsterRun:
        run = dg.DagsterRun(job_name="x", status=dg.DagsterRunStatus.STARTED,
                            tags={local.PROCESS_TAG: f"{socket.gethostname()}:{process.pid}"})
        instance.add_run(run)
        return run

    running = subprocess.Popen(sleeper)
    later = None
    try:
        live = unfinished_run_of(running)  # recorded after its process started: the process is its own
        assert local.release_dead_runs(instance) == []
        assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED

        reused = dg.DagsterRun(job_name="x", status=dg.DagsterRunStatus.STARTED)
        instance.add_run(reused)
        time.sleep(3.5)
        later = subprocess.Popen(sleeper)  # the pid the run names now belongs to a program started after it
        instance.add_run_tags(reused.run_id, {local.PROCESS_TAG: f"{socket.gethostname()}:{later.pid}"})
        said = local.release_dead_runs(instance)
        assert [e.detail.split(" (")[0] for e in said] == [f"run {reused.run_id[:8]} ended with its process"], said
        assert instance.get_run_by_id(reused.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        for process in (running, later):
            if process:
                process.kill()
                process.wait()
    instance.dispose()
