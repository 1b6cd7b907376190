"""Faults on the real stack, each with a defined outcome and a measured recovery (issue: concurrency).

  - the daemon killed mid-run, then started: the run (its own container) completes, a run queued
    meanwhile launches once the daemon is back, nothing stays STARTING/STARTED;
  - a run container killed: run monitoring marks the run failed, its warehouse slot is freed, the
    next run succeeds;
  - the code server restarted: the webserver and the daemon reconnect by themselves;
  - Postgres restarted (idle, and under a running run): services reconnect, no run or event is lost.

(`docker compose down` then `up` is test_deployment's test_history_and_warehouse_survive_down_and_up.)
The schedule, every minute in this stack, is paused for this module, so that each figure measures the
fault and not the queue; it is restored afterwards. Each test leaves the stack healthy and loaded.
"""

import json
import subprocess
import time
import uuid

import pytest

from clawdata.cli.remote import launch
from tests.stack.runs import (
    FINISHED, WAREHOUSE_POOL, active_runs, all_events, daemons_healthy, lock_errors, pool, run, runs,
    start_schedule, stop_schedule, wait_for_runs, wait_for_status, wait_for_step_start, wait_until_idle,
)

SERVICES = {"postgres", "user_code", "webserver", "daemon"}
SMALL = [["raw_products"], ["slv_products"]]  # a short run that still writes the warehouse


@pytest.fixture(scope="module", autouse=True)
def quiet_stack(stack):
    was = stop_schedule(stack.graphql)
    wait_until_idle(stack.graphql, timeout=900)
    yield
    try:
        wait_healthy(stack)
    finally:
        if was == "RUNNING":
            start_schedule(stack.graphql)


def service_states(stack) -> dict[str, tuple[str, str]]:
    out = stack.compose("ps", "--format", "{{.Service}} {{.State}} {{.Health}}", check=False).stdout
    return {name: tuple(rest) for name, *rest in (line.split() for line in out.splitlines()) if name in SERVICES}


def wait_healthy(stack, timeout: float = 300) -> float:
    """Every service running and healthy, the location loaded, the daemons reporting: seconds taken."""
    start, deadline = time.monotonic(), time.monotonic() + timeout
    while True:
        states = service_states(stack)
        ok = set(states) == SERVICES and all(s == ("running", "healthy") for s in states.values())
        if ok:
            try:
                stack.wait_until_loaded(timeout=max(1, deadline - time.monotonic()))
                if daemons_healthy(stack.graphql):
                    return time.monotonic() - start
            except Exception:  # the webserver or Postgres is still coming back
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"stack not healthy within {timeout} s: {states}")
        time.sleep(1)


def container(stack, service: str) -> dict:
    cid = stack.compose("ps", "-q", service).stdout.strip()
    info = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout)[0]
    return {"id": cid, "started": info["State"]["StartedAt"], "restarts": info["RestartCount"]}


def launch_retrying(stack, job: str, selection, tags: dict, timeout: float = 180) -> tuple[str, float]:
    """Launch as the UI does, retrying while the webserver cannot; the run id and seconds waited."""
    start, deadline = time.monotonic(), time.monotonic() + timeout
    while True:
        try:
            return launch(stack.graphql, job, selection, tags), time.monotonic() - start
        except Exception as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not launch {job} within {timeout} s: {e}") from None
            time.sleep(1)


def mid_run(stack, test: str) -> tuple[str, str]:
    """A materialize_all run, returned once it is STARTED and executing a step (holding the slot)."""
    run_id = launch(stack.graphql, "materialize_all", None, {"clawdata/test": test})
    wait_for_status(stack.graphql, run_id, {"STARTED"}, timeout=300)
    step = wait_for_step_start(stack.graphql, run_id, timeout=300)
    return run_id, step


def no_run_stuck(stack, timeout: float = 600) -> None:
    """Nothing left QUEUED, STARTING, STARTED or CANCELING and no warehouse slot held."""
    wait_until_idle(stack.graphql, timeout=timeout)


def test_daemon_killed_mid_run(stack):
    test = f"daemon-kill-{uuid.uuid4().hex[:6]}"
    run_id, step = mid_run(stack, test)
    stack.compose("kill", "daemon")  # SIGKILL, as an OOM kill or a crash would
    killed = time.monotonic()
    # A run submitted while the daemon is down waits in the queue: nothing dequeues it.
    queued, _ = launch_retrying(stack, "__ASSET_JOB", SMALL, {"clawdata/test": test})
    time.sleep(5)
    assert run(stack.graphql, queued)["status"] == "QUEUED"

    stack.compose("start", "daemon")
    healthy = wait_healthy(stack) + (time.monotonic() - killed) - (time.monotonic() - killed)
    healthy = time.monotonic() - killed
    wait_for_status(stack.graphql, queued, {"STARTING", "STARTED", *FINISHED}, timeout=300)
    dequeued = time.monotonic() - killed
    done = wait_for_runs(stack.graphql, [run_id, queued], timeout=900)
    print(f"\ndaemon killed during step {step}: run {run_id[:8]} {done[run_id]['status']}, run queued while down "
          f"{done[queued]['status']}; daemon healthy {healthy:.1f} s after the kill, queued run launched "
          f"{dequeued:.1f} s after the kill")
    # The run's own container never depended on the daemon: it completes.
    assert done[run_id]["status"] == "SUCCESS", done[run_id]
    assert done[queued]["status"] == "SUCCESS", done[queued]
    no_run_stuck(stack)
    assert not lock_errors(stack.graphql, [run_id, queued])


def test_run_container_killed(stack):
    test = f"container-kill-{uuid.uuid4().hex[:6]}"
    run_id, step = mid_run(stack, test)
    container_id = run(stack.graphql, run_id)["tags"]["docker/container_id"]
    holding = pool(stack.graphql)["claimedSlots"]
    subprocess.run(["docker", "kill", container_id], capture_output=True, check=True)
    killed = time.monotonic()

    failed = wait_for_status(stack.graphql, run_id, FINISHED, timeout=300)
    marked = time.monotonic() - killed
    assert failed["status"] == "FAILURE", failed
    messages = " ".join(e.get("message") or "" for e in all_events(stack.graphql, run_id))
    assert "run worker" in messages.lower() or "container" in messages.lower(), messages[-2000:]

    deadline = time.monotonic() + 120
    while any(s["runId"] == run_id for s in pool(stack.graphql)["claimedSlots"] + pool(stack.graphql)["pendingSteps"]):
        assert time.monotonic() < deadline, f"slot of the killed run not freed: {pool(stack.graphql)}"
        time.sleep(0.5)
    freed = time.monotonic() - killed

    # The warehouse survived the kill mid-write, and the next writer gets the slot and the file.
    after, _ = launch_retrying(stack, "materialize_all", None, {"clawdata/test": test})
    done = wait_for_runs(stack.graphql, [after], timeout=900)[after]
    recovered = time.monotonic() - killed
    print(f"\nrun container killed during step {step} (slot held by {holding}): run marked {failed['status']} "
          f"{marked:.1f} s after the kill, slot freed at {freed:.1f} s, next run {done['status']} at {recovered:.1f} s")
    assert done["status"] == "SUCCESS", done
    assert not lock_errors(stack.graphql, [after])
    no_run_stuck(stack)


def test_code_server_restarted(stack):
    test = f"code-server-{uuid.uuid4().hex[:6]}"
    others = {s: container(stack, s) for s in ("webserver", "daemon")}
    start = time.monotonic()
    stack.compose("restart", "user_code")
    restarted = time.monotonic() - start

    # No reload, no restart of anything else: a UI launch works again, and the daemon runs it.
    run_id, launched = launch_retrying(stack, "__ASSET_JOB", SMALL, {"clawdata/test": test})
    launched += restarted
    done = wait_for_runs(stack.graphql, [run_id], timeout=900)[run_id]
    ran = time.monotonic() - start
    # The daemon's own calls to the code server (sensor ticks) succeed again.
    sensor_ok = wait_for_sensor_tick(stack, after=time.time() - (time.monotonic() - start) + restarted)
    healthy = wait_healthy(stack)
    print(f"\ncode server restarted ({restarted:.1f} s): UI launch accepted {launched:.1f} s after the restart began, "
          f"run {done['status']} at {ran:.1f} s, sensor tick ok at {sensor_ok - (time.time() - (time.monotonic() - start)):.1f} s")
    assert done["status"] == "SUCCESS", done
    assert {s: container(stack, s) for s in ("webserver", "daemon")} == others  # nothing else was restarted
    assert healthy < 60


SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 5) { status timestamp error { message } } } }
  }
}
"""


def wait_for_sensor_tick(stack, after: float, timeout: float = 180) -> float:
    """Epoch of the first sensor tick evaluated after `after` without an error."""
    selector = {"repositoryLocationName": "clawdata", "repositoryName": "__repository__", "sensorName": "inbox_sensor"}
    deadline = time.monotonic() + timeout
    while True:
        ticks = stack.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]
        good = [t for t in ticks if t["timestamp"] > after and t["status"] in ("SKIPPED", "SUCCESS")]
        if good:
            return min(t["timestamp"] for t in good)
        if time.monotonic() > deadline:
            raise AssertionError(f"no good sensor tick after the restart within {timeout} s: {ticks}")
        time.sleep(1)


def history(stack) -> dict[str, tuple[str, int]]:
    """Each finished run's status and number of events."""
    return {r["runId"]: (r["status"], len(all_events(stack.graphql, r["runId"])))
            for r in runs(stack.graphql, limit=500) if r["status"] in FINISHED}


def test_postgres_restarted(stack):
    test = f"postgres-{uuid.uuid4().hex[:6]}"
    before = history(stack)

    # Idle: everything reconnects by itself.
    start = time.monotonic()
    stack.compose("restart", "postgres")
    idle_recovery = wait_healthy(stack) + (time.monotonic() - start) - (time.monotonic() - start)
    idle_recovery = time.monotonic() - start

    # Under a run: the run, and the services, carry on.
    run_id, step = mid_run(stack, test)
    start = time.monotonic()
    stack.compose("restart", "postgres")
    busy_recovery_healthy = wait_healthy(stack)
    busy_recovery = time.monotonic() - start
    during = wait_for_runs(stack.graphql, [run_id], timeout=900)[run_id]
    after_id, _ = launch_retrying(stack, "__ASSET_JOB", SMALL, {"clawdata/test": test})
    after = wait_for_runs(stack.graphql, [after_id], timeout=900)[after_id]

    now = history(stack)
    lost = {i: (v, now.get(i)) for i, v in before.items() if now.get(i) != v}
    events = all_events(stack.graphql, run_id)
    kinds = [e["__typename"] for e in events]
    print(f"\npostgres restarted idle: healthy again in {idle_recovery:.1f} s; restarted during step {step} of run "
          f"{run_id[:8]}: healthy in {busy_recovery:.1f} s, that run {during['status']} with {len(events)} events, "
          f"next run {after['status']}; runs before {len(before)}, lost or changed {len(lost)}")
    assert not lost, lost
    assert during["status"] == "SUCCESS", during
    assert after["status"] == "SUCCESS", after
    # No event of the run that spanned the restart was lost: each step started and succeeded.
    assert kinds.count("ExecutionStepStartEvent") == kinds.count("ExecutionStepSuccessEvent") > 0, kinds
    assert "RunSuccessEvent" in kinds
    no_run_stuck(stack)
    assert busy_recovery_healthy >= 0
