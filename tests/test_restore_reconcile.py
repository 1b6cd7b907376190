"""After a restore, `python -m clawdata.cli.reconcile` (what deploy/backup.sh runs) marks every asset
"restored" with a materialization of its own that has no data version; the next run must read those
marks and rebuild, in-process on a real instance (the stack test does the same through backup.sh)."""

import subprocess
import sys

import dagster as dg
import duckdb
from dagster._core.instance.ref import InstanceRef

from tests.conftest import ROOT, run_cli


def test_the_run_after_a_reconcile_rebuilds_from_the_files(project):
    first = run_cli(project["env"], "dagster", "materialize", "--all")
    assert first.returncode == 0, first.stdout + first.stderr
    with duckdb.connect(str(project["warehouse"])) as conn:  # as a backup lacks bronze
        conn.execute("DROP TABLE bronze.raw_products")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(project["home"]))) as instance:  # going at the backup
        going = instance.add_run(dg.DagsterRun(job_name="materialize_all", status=dg.DagsterRunStatus.STARTED)).run_id

    said = subprocess.run([sys.executable, "-m", "clawdata.cli.reconcile", "backup-1"], env=project["env"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert said.returncode == 0, said.stdout + said.stderr
    assert "assets marked as restored" in said.stdout, said.stdout

    for reads in ("definitions", "their snapshot"):  # a table the backup lacks is not called fresh
        status = run_cli(project["env"], "dagster", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        row = " ".join(next(line for line in status.stdout.splitlines() if "│ raw_products " in line).split())
        assert "not in the backup backup-1: the next run rebuilds it" in row and "fresh" not in row, (reads, status.stdout)
    # the run going at the backup (it may have ended well since: its record went back) says why it was canceled
    status = run_cli({**project["env"], "COLUMNS": "250"}, "dagster", "status")
    row = " ".join(next(line for line in status.stdout.splitlines() if f"│ {going[:8]} " in line).split())
    assert "CANCELED by the restore of backup backup-1" in row, status.stdout

    after = run_cli(project["env"], "dagster", "materialize", "--all")
    assert after.returncode == 0, after.stdout + after.stderr
    summary = next(line for line in after.stdout.splitlines() if line.startswith("SUCCESS"))
    assert " 0 rebuilt" not in summary, summary  # restored marks carry no data version: nothing is reused blindly
    # nor is a test scoped to the rows that changed: the table it passed on is not the one restored
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(project["home"])))
    run = instance.get_runs(limit=1)[0]
    scopes = {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data.metadata["checked_on"].value
              for e in instance.all_logs(run.run_id) if e.dagster_event and e.step_key == "gold_models"
              and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert scopes and set(scopes.values()) == {"whole table"}, scopes
    # and an incremental model starts over, as under --full-refresh: no record says how its restored
    # table was built (it may even be another project's)
    started_over = {e.dagster_event.asset_key.to_user_string(): e.dagster_event.event_specific_data.materialization.metadata["full_refresh"].value
                    for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
                    if e.step_key == "gold_models"}
    assert {k for k, v in started_over.items() if v} >= {"dim_customers", "fct_daily_revenue", "fct_customer_category_revenue"}, started_over


def test_after_a_reconcile_the_inbox_sensor_rebuilds_everything_once(project):
    """A restore records what the warehouse holds; the next run a delivery starts built its own
    sources alone, the replica stayed unpublished (`dim_customers is older than slv_customers`), and
    the other sources' bronze unbuilt. The sensor now asks for everything, once, and the replica
    publishes; the restore's records go upstream first, so the replica's staleness reads them right."""
    assert run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor").returncode == 0  # fills, records the files
    said = subprocess.run([sys.executable, "-m", "clawdata.cli.reconcile", "backup-2"], env=project["env"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert said.returncode == 0, said.stdout + said.stderr
    rebuild = run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor")
    out = rebuild.stdout
    assert rebuild.returncode == 0 and "rebuild after the restore of backup backup-2" in out, out + rebuild.stderr
    assert "raw_products" in out and "warehouse_replica" in out and "SUCCESS" in out and "replica not published" not in out, out
    assert "skipped: no new or changed files" in run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor").stdout


def test_a_delivery_made_readable_again_is_a_change(project):
    """A run failed on a delivery it could not read (`chmod 000`); fixing its permissions changes neither
    its size nor its time, and the sensor never took it in again. Its inode's change time is part
    of what the sensor compares. (As root, a test cannot make a file unreadable: the chmod alone.)"""
    import os

    assert run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor").returncode == 0
    delivery = project["inbox"] / "products_2026-12-05.csv"
    delivery.write_text((project["sample"] / "sample_products.csv").read_text())
    assert "products_2026-12-05.csv" in run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor").stdout
    os.chmod(delivery, 0o600)
    again = run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor").stdout
    assert "requested raw_products" in again and "products_2026-12-05.csv" in again and "SUCCESS" in again, again


def test_after_a_failed_rebuild_the_inbox_sensor_goes_on(project):
    """The rebuild after a restore failed (a file it could not read): the assets it did not build kept
    the restore's record, so every tick asked for the same rebuild again, which Dagster dropped (its run
    key taken): the ticks were SKIPPED with no reason, and the deliveries that came meanwhile were
    recorded in the cursor and never run. The rebuild is asked for once; deliveries then go on."""
    assert run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor").returncode == 0
    sample = project["sample"] / "sample_products.csv"
    good = sample.read_text()
    sample.write_text(good + '"unterminated,1,2\n')
    said = subprocess.run([sys.executable, "-m", "clawdata.cli.reconcile", "backup-3"], env=project["env"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert said.returncode == 0, said.stdout + said.stderr
    failed = run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor")
    assert "rebuild after the restore of backup backup-3" in failed.stdout and failed.returncode != 0, failed.stdout
    # What can be built from what is there is (gold, the read path: the products table as restored)
    next_tick = " ".join(run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "the rebuild after the restore of backup backup-3 was asked for once" in next_tick, next_tick
    assert "SUCCESS" in next_tick and "warehouse_replica" in next_tick, next_tick
    sample.write_text(good)  # mended, and a delivery comes
    (project["inbox"] / "products_2026-12-06.csv").write_text(good)
    after = " ".join(run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "requested raw_products" in after and "SUCCESS" in after, after


def test_a_damaged_backup_is_named_before_a_restore_changes_anything(tmp_path, monkeypatch):
    """A truncated copy of a backup's warehouse or inbox archive was found out half-way through a
    restore, after the live warehouse had been replaced with it (deploy/backup.sh runs `verify`
    first, and reads the Dagster dump whole with pg_restore)."""
    import shutil

    import pytest

    from clawdata.warehouse import backup, replica

    warehouse, served, inbox = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb", tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "orders_1.csv").write_bytes(b"id,amount\n" + b"".join(b"%d,%d\n" % (i, i * 7 % 1000) for i in range(200_000)))
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("CREATE SCHEMA silver; CREATE TABLE silver.slv_orders AS "
                     "SELECT range AS id, md5(range::varchar) AS note FROM range(300000)")
    replica.publish(warehouse, served, "run-1")
    monkeypatch.setenv("CLAWDATA_REPLICA_PATH", str(served))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    good = tmp_path / "backup"
    backup.backup(good)
    assert "1 inbox file(s)" in backup.verify(good)
    for name, keep in (("warehouse.duckdb", 0.5), ("inbox.tar.gz", 0.5)):
        damaged = tmp_path / f"damaged-{name}"
        shutil.copytree(good, damaged)
        with (damaged / name).open("r+b") as f:
            f.truncate(int((damaged / name).stat().st_size * keep))
        with pytest.raises(backup.DamagedBackup, match=rf"{damaged / name} is damaged .*: restore another backup"):
            backup.verify(damaged)
