"""Ctrl-C in `clawdata dagster materialize` while dbt runs: the run ends CANCELED (not FAILURE),
its warehouse slot is free, no dbt process is left, and the command exits 130 without a traceback."""

import os
import signal
import subprocess
import time

from tests.conftest import CLAWDATA, ROOT, make_project

WAREHOUSE_POOL = "duckdb_warehouse"


def processes_of(home) -> list[str]:
    """Command lines of the processes started with this test's DAGSTER_HOME (the CLI and its dbt)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"DAGSTER_HOME={home}".encode() in f.read().split(b"\0"):
                    with open(f"/proc/{pid}/cmdline", "rb") as c:
                        found.append(c.read().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours to read
            pass
    return found


def test_ctrl_c_cancels_the_run_and_exits_130(tmp_path):
    paths = make_project(tmp_path)
    home = paths["home"]
    # Its own session, so that the signal goes to the CLI and dbt together, as a terminal's Ctrl-C does.
    cli = subprocess.Popen([str(CLAWDATA), "dagster", "materialize", "--all"], env=paths["env"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while not any(" build" in p and "dbt" in p for p in processes_of(home)):  # dbt is running
            assert cli.poll() is None and time.monotonic() < deadline, cli.stdout.read() if cli.poll() is not None else "no dbt"
            time.sleep(0.2)
        os.killpg(cli.pid, signal.SIGINT)
        out, _ = cli.communicate(timeout=300)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
    print(out)
    assert cli.returncode == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out
    assert "CANCELED" in out and "gold_models" in out

    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        [record] = instance.get_run_records(limit=1)
        assert record.dagster_run.status.value == "CANCELED"
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []
    assert processes_of(home) == []  # no dbt left behind
