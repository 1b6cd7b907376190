"""Ctrl-C in `clawdata dagster materialize` while dbt runs a long query: the run ends CANCELED (not
FAILURE), dbt's query is interrupted, its warehouse slot is free, no process is left, and the command
exits 130 without a traceback."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLAWDATA, ROOT, make_project

# A model that runs for minutes unless interrupted (hashing ten billion numbers).
SLOW_MODEL = "{{ config(materialized='table') }}\nselect sum(hash(range)) as n from range(10000000000)\n"

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


def dbt_started(home, model: str) -> bool:
    """dbt's own log line for `model`, in the step's captured stdout."""
    return any(f"START sql table model main.{model}" in log.read_text(errors="replace")
               for log in (home / "storage").rglob("*.out"))


def slow_project(tmp_path) -> tuple[Path, dict, Path]:
    """A private copy of the sample and the shipped dbt project, plus the slow model: (home, env, project)."""
    paths = make_project(tmp_path)
    project = tmp_path / "dbt"
    shutil.copytree(ROOT / "dbt", project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "marts" / "zz_slow.sql").write_text(SLOW_MODEL)
    return paths["home"], {**paths["env"], "CLAWDATA_DBT_PROJECT_DIR": str(project)}, project


@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_ctrl_c_cancels_the_run_and_exits_130(tmp_path, stop):
    """`kill` (SIGTERM) and a closed terminal (SIGHUP) do as Ctrl-C: Python's default ended the CLI at
    once, and its run stayed STARTED holding the warehouse slot, so every later run waited forever."""
    home, env, project = slow_project(tmp_path)
    # Its own session, so that the signal reaches the CLI as a terminal's Ctrl-C does.
    cli = subprocess.Popen([str(CLAWDATA), "dagster", "materialize", "--all"], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while not dbt_started(home, "zz_slow"):  # dbt runs the slow model, in the CLI's process
            assert cli.poll() is None and time.monotonic() < deadline, cli.stdout.read() if cli.poll() is not None else "no dbt"
            time.sleep(0.2)
        time.sleep(1)
        if stop == "ctrl-c":
            os.killpg(cli.pid, signal.SIGINT)
        else:
            os.kill(cli.pid, signal.SIGTERM)
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
    assert processes_of(home) == []  # nothing left behind


def test_a_run_whose_process_was_killed_does_not_hold_the_warehouse(tmp_path):
    """A CLI killed outright (SIGKILL, the OOM killer, a machine that restarted) leaves its run
    STARTED with the warehouse pool's one slot claimed: the next run waited for it forever, at 100 %
    of a core, saying nothing. `status` (or the next run) finds the process gone, fails that run and
    frees the slot; until then status showed the run STARTED and its checks pending."""
    home, env, project = slow_project(tmp_path)
    cli = subprocess.Popen([str(CLAWDATA), "dagster", "materialize", "--all"], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 900
    while not dbt_started(home, "zz_slow"):
        assert cli.poll() is None and time.monotonic() < deadline, "no dbt"
        time.sleep(0.2)
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait(timeout=60)
    (project / "models" / "marts" / "zz_slow.sql").unlink()
    shown = subprocess.run([str(CLAWDATA), "dagster", "status"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "ended with its process" in shown.stdout and "its hold on the warehouse released" in shown.stdout, shown.stdout
    runs = shown.stdout.split("Recent runs")[1]
    assert "FAILURE" in runs and "STARTED" not in runs, shown.stdout
    again = subprocess.run([str(CLAWDATA), "dagster", "materialize", "--all"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "ended with its process" not in again.stdout, again.stdout  # said once

    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        killed, done = sorted(instance.get_run_records(limit=2), key=lambda r: r.create_timestamp)
        assert (killed.dagster_run.status.value, done.dagster_run.status.value) == ("FAILURE", "SUCCESS")
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []


def test_a_run_whose_output_is_no_longer_read_goes_on_to_the_end(tmp_path):
    """`clawdata dagster materialize --all | head -3`: the CLI met a closed pipe, the run ended
    FAILURE and kept the warehouse slot, and every later run waited for it. The run goes on unseen
    and ends as it would have; a slot a finished run still holds is freed by the next run."""
    paths = make_project(tmp_path)
    cli = subprocess.Popen([str(CLAWDATA), "dagster", "materialize", "--all"], env=paths["env"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    for _ in range(3):
        cli.stdout.readline()
    cli.stdout.close()  # as `head -3` exits
    assert cli.wait(timeout=300) == 0

    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(paths["home"])) as instance:
        [record] = instance.get_run_records(limit=1)
        assert record.dagster_run.status.value == "SUCCESS"
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_run_waiting_for_the_warehouse_sleeps_and_answers_ctrl_c(tmp_path):
    """A run waiting for the warehouse slot another run holds spun at 100 % of a core (Dagster's wait
    never slept) and ignored Ctrl-C and `kill` until the slot came free. It sleeps; Ctrl-C cancels
    it at once, exit 130; the run that holds the slot goes on."""
    home, env, project = slow_project(tmp_path)
    holder = subprocess.Popen([str(CLAWDATA), "dagster", "materialize", "--all"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    waiter = None
    try:
        deadline = time.monotonic() + 900
        while not dbt_started(home, "zz_slow"):
            assert holder.poll() is None and time.monotonic() < deadline, "no dbt"
            time.sleep(0.2)
        waiter = subprocess.Popen([str(CLAWDATA), "dagster", "materialize", "raw_customers"], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        said = []
        while not any("waiting for the warehouse" in line for line in said):
            line = waiter.stdout.readline()
            assert line, "".join(said)  # the waiter ended, or its output never said it waits
            said.append(line)
        before, start = cpu_seconds(waiter.pid), time.monotonic()
        time.sleep(4)
        used, waited = cpu_seconds(waiter.pid) - before, time.monotonic() - start
        assert used < 0.25 * waited, f"the waiting run used {used:.2f} s of CPU in {waited:.1f} s"

        os.killpg(waiter.pid, signal.SIGINT)
        out = "".join(said) + waiter.communicate(timeout=60)[0]
        print(out)
        assert waiter.returncode == 130, out
        assert "Traceback" not in out and "CANCELED" in out
        assert holder.poll() is None  # the holder's run was not touched
    finally:
        for process in (waiter, holder):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        holder.wait(timeout=300)

    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        statuses = [r.dagster_run.status.value for r in sorted(instance.get_run_records(limit=2), key=lambda r: r.create_timestamp)]
        assert statuses == ["CANCELED", "CANCELED"]  # the holder by the cleanup's Ctrl-C
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []


def test_dev_started_in_the_background_stops_on_ctrl_c(tmp_path):
    """`clawdata dagster dev &` from a script: the shell has it ignore SIGINT, which stays ignored across
    exec, so `kill -INT` (and a later Ctrl-C of a foregrounded job) left the webserver and the daemon
    hanging. It stops, every process with it."""
    import socket
    import urllib.request

    paths = make_project(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dev = subprocess.Popen([str(CLAWDATA), "dagster", "dev", "-p", str(port), "-h", "127.0.0.1"], env=paths["env"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # as `&` in a script
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert dev.poll() is None and time.monotonic() < deadline, "dagster dev did not come up"
                time.sleep(1)
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(timeout=120)
        deadline = time.monotonic() + 60
        while processes_of(paths["home"]) and time.monotonic() < deadline:
            time.sleep(1)
        assert processes_of(paths["home"]) == [], processes_of(paths["home"])
    finally:
        try:
            os.killpg(dev.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_warehouse_query_stopped_by_an_interrupt_is_the_interrupt_not_a_failure(tmp_path):
    """DuckDB stops a query at SIGINT with a plain `RuntimeError: Query interrupted`: Dagster took it for
    the step's own failure, so a run `make down` stopped (its container's SIGTERM) was failed and never
    retried, and Ctrl-C showed an error. A query a step runs in the warehouse raises the interrupt."""
    import threading

    from dagster import DagsterExecutionInterruptedError
    from dagster_duckdb import DuckDBResource

    from clawdata.warehouse.connection import connect

    # Ctrl-C a second after the connection is open (the query runs by then, for minutes): sent
    # earlier, on a busy machine it could land while the file opens, which is not what this tests.
    # One DuckDB thread: with more, the calling thread may wait on the others' tasks without looking
    # for signals, and DuckDB 2.0 then saw the Ctrl-C only when the query ended (486 s in CI). That
    # lateness is DuckDB's; what this tests is what a step makes of the interrupt once DuckDB raises it.
    # DuckDB has also let one Ctrl-C pass unseen and run its query to the end (454 s in CI, one thread):
    # Ctrl-C is sent again every half second until the query stops, each a KeyboardInterrupt as Python's
    # own handler raises it, while the query runs; one arriving after it stopped is dropped.
    running, stopped = threading.Event(), threading.Event()

    def ctrl_c(_signum, _frame):
        if running.is_set():
            raise KeyboardInterrupt

    def press():
        if stopped.wait(1.0):
            return
        running.set()
        while not stopped.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            stopped.wait(0.5)

    previous = signal.signal(signal.SIGINT, ctrl_c)
    sender = threading.Thread(target=press, daemon=True)
    resource = DuckDBResource(database=str(tmp_path / "w.duckdb"), connection_config={"threads": 1})
    try:
        with pytest.raises(DagsterExecutionInterruptedError, match="interrupted in a warehouse query") as raised:
            with connect(resource) as conn:
                sender.start()
                try:
                    conn.execute("SELECT sum(hash(range)) FROM range(100000000000)").fetchall()
                finally:
                    running.clear()
                    stopped.set()
    finally:
        stopped.set()
        sender.join(timeout=5)
        signal.signal(signal.SIGINT, previous)
    assert isinstance(raised.value.__cause__, RuntimeError)  # DuckDB's, whose words the connection names
