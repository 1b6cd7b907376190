"""Faults on the real stack, each with a defined outcome and a measured recovery (issue: concurrency).

  - the daemon process killed mid-run: Docker restarts it; the run (its own container) completes, a
    run submitted meanwhile launches once the daemon is back, nothing stays STARTING/STARTED;
  - a run container killed: run monitoring marks the run failed, its warehouse slot is freed,
    Dagster retries it once and the CLI that launched it follows the retry to SUCCESS, the next run
    succeeds on the same warehouse;
  - the code server restarted: the webserver and the daemon reconnect by themselves, nothing else
    is restarted;
  - Postgres restarted, idle and under a running run: the first UI action afterwards works, the run
    completes with all its events (or fails with the reason recorded and its retry succeeds), no run
    or event recorded before is lost.

(`docker compose down` then `up` is test_deployment's test_history_and_warehouse_survive_down_and_up.)
The schedule, every minute in this stack, is paused for this module so that each figure measures the
fault and not the queue; it is restored afterwards. Every test leaves the stack healthy and loaded.
"""

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from clawdata.cli.errors import ClawdataError
from clawdata.cli.remote import launch
from tests.stack.runs import (
    FINISHED, all_events, daemons_healthy, lock_errors, mark_canceled, pool, run, runs, start_schedule,
    stop_schedule, wait_for_runs, wait_for_status, wait_for_step_start, wait_until_idle,
)

SERVICES = {"postgres", "user_code", "webserver", "daemon"}
SMALL = [["raw_products"], ["slv_products"]]  # a short run that still writes the warehouse


@pytest.fixture(scope="module", autouse=True)
def quiet_stack(stack):
    was = stop_schedule(stack.graphql)
    wait_until_idle(stack.graphql, timeout=900)
    yield
    if was == "RUNNING":
        retrying(lambda: start_schedule(stack.graphql))


@pytest.fixture
def test_tag(stack):
    """A tag for this test's runs; afterwards, the stack healthy again and none of them left behind."""
    tag = {"clawdata/test": f"fault-{uuid.uuid4().hex[:8]}"}
    yield tag
    wait_healthy(stack)
    never_started = [r["runId"] for r in retrying(lambda: runs(stack.graphql, tags=tag, limit=500))
                     if r["status"] == "NOT_STARTED"]
    retrying(lambda: mark_canceled(stack.graphql, never_started))  # a failed test's leftovers must not fail the next
    retrying(lambda: wait_until_idle(stack.graphql, timeout=600))


def retrying(fn, timeout: float = 120, errors: list | None = None):
    """fn(), retried while the webserver answers with an error (the errors seen go to `errors`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ClawdataError as e:
            if errors is not None:
                errors.append(str(e)[:300])
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def service_states(stack) -> dict[str, tuple[str, ...]]:
    out = stack.compose("ps", "--format", "{{.Service}} {{.State}} {{.Health}}", check=False).stdout
    return {name: tuple(rest) for name, *rest in (line.split() for line in out.splitlines()) if name in SERVICES}


def wait_service_healthy(stack, service: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while service_states(stack).get(service) != ("running", "healthy"):
        assert time.monotonic() < deadline, f"{service} not healthy within {timeout} s: {service_states(stack)}"
        time.sleep(0.5)


def wait_healthy(stack, timeout: float = 300) -> float:
    """Every service running and healthy, the location loaded, the daemons reporting: seconds taken."""
    start, deadline = time.monotonic(), time.monotonic() + timeout
    while True:
        states = service_states(stack)
        if set(states) == SERVICES and all(s == ("running", "healthy") for s in states.values()):
            try:
                stack.wait_until_loaded(timeout=max(1.0, deadline - time.monotonic()))
                if daemons_healthy(stack.graphql):
                    return time.monotonic() - start
            except (ClawdataError, AssertionError):  # still coming back
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"stack not healthy within {timeout} s: {states}")
        time.sleep(1)


def container(stack, service: str) -> dict:
    cid = stack.compose("ps", "-q", service).stdout.strip()
    info = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout)[0]
    return {"id": cid, "started": info["State"]["StartedAt"], "restarts": info["RestartCount"], "pid": info["State"]["Pid"]}


def launch_retrying(stack, job: str, selection, tags: dict, timeout: float = 180) -> tuple[str, float, list[str]]:
    """Launch as the UI does, retrying while the webserver cannot: run id, seconds, errors seen."""
    start, errors = time.monotonic(), []
    run_id = retrying(lambda: launch(stack.graphql, job, selection, tags), timeout=timeout, errors=errors)
    return run_id, time.monotonic() - start, errors


def mid_run(stack, tags: dict) -> tuple[str, str]:
    """A materialize_all run (about 7 warehouse steps), once STARTED and executing its first step."""
    run_id = launch(stack.graphql, "materialize_all", None, tags)
    wait_for_status(stack.graphql, run_id, {"STARTED"}, timeout=300)
    return run_id, wait_for_step_start(stack.graphql, run_id, timeout=300)


def complete_event_log(graphql, run_id: str) -> list[str]:
    kinds = [e["__typename"] for e in all_events(graphql, run_id)]
    # Every step that started also finished, every asset of the run was recorded, the run ended.
    assert kinds.count("ExecutionStepStartEvent") == kinds.count("ExecutionStepSuccessEvent") > 0, kinds
    assert kinds.count("MaterializationEvent") >= 9 and "RunSuccessEvent" in kinds, kinds
    return kinds


def test_daemon_killed_mid_run(stack, test_tag):
    run_id, step = mid_run(stack, test_tag)
    before = container(stack, "daemon")
    os.kill(before["pid"], signal.SIGKILL)  # the daemon process dies (OOM killer, crash): no `docker stop`
    killed = time.monotonic()
    queued, _, _ = launch_retrying(stack, "__ASSET_JOB", SMALL, test_tag)  # submitted while it is down

    healthy = dequeued = None
    while healthy is None or dequeued is None:
        assert time.monotonic() - killed < 300, f"daemon not back: healthy {healthy}, queued run launched {dequeued}"
        if dequeued is None and run(stack.graphql, queued)["status"] not in ("QUEUED", "NOT_STARTED"):
            dequeued = time.monotonic() - killed
        if healthy is None and service_states(stack).get("daemon") == ("running", "healthy") and daemons_healthy(stack.graphql):
            healthy = time.monotonic() - killed
        time.sleep(0.5)
    after = container(stack, "daemon")
    done = wait_for_runs(stack.graphql, [run_id, queued], timeout=900)
    print(f"\ndaemon killed during step {step} of run {run_id[:8]}: restarted by Docker (restarts "
          f"{before['restarts']}->{after['restarts']}), healthy {healthy:.1f} s after the kill; run submitted "
          f"meanwhile launched at {dequeued:.1f} s; outcomes: killed-over run {done[run_id]['status']}, "
          f"queued run {done[queued]['status']}")
    assert after["restarts"] == before["restarts"] + 1  # by the restart policy, not by hand
    # The run's own container never depended on the daemon: it completes, as does the queued one.
    assert done[run_id]["status"] == "SUCCESS", done[run_id]
    assert done[queued]["status"] == "SUCCESS", done[queued]
    complete_event_log(stack.graphql, run_id)
    wait_until_idle(stack.graphql, timeout=300)  # nothing left STARTING / STARTED, no slot held
    assert not lock_errors(stack.graphql, [run_id, queued])


def retry_of(stack, run_id: str, timeout: float = 120) -> str:
    """The id of the run Dagster launched to retry run_id (run_retries in dagster.yaml)."""
    deadline = time.monotonic() + timeout
    while not (found := runs(stack.graphql, tags={"dagster/parent_run_id": run_id})):
        if time.monotonic() > deadline:
            tags = {k: v for k, v in run(stack.graphql, run_id)["tags"].items() if "retry" in k or "failure" in k}
            raise AssertionError(f"no retry of run {run_id} within {timeout} s; its tags {tags}; its last events: "
                                 f"{[e['message'][:200] for e in all_events(stack.graphql, run_id)[-5:]]}")
        time.sleep(0.5)
    return found[0]["runId"]


def retry_decision(stack, run_id: str, timeout: float = 30) -> dict[str, str]:
    """A failed run's tags once Dagster has tagged it will_retry true or false, which it does in a write
    just after the FAILURE status: read at once, the tag may not be there yet."""
    deadline = time.monotonic() + timeout
    while "dagster/will_retry" not in (tags := retrying(lambda: run(stack.graphql, run_id))["tags"]):
        assert time.monotonic() < deadline, f"run {run_id} failed but was never tagged will_retry: {tags}"
        time.sleep(0.2)
    return tags


def test_run_container_killed(stack, test_tag):
    """Launched by `clawdata dagster materialize --all`, as `make materialize` does. The container dies
    mid-step: run monitoring marks the run failed and frees its slot, Dagster retries it once from the
    failure, the CLI follows the retry and exits 0, and the next run succeeds on the same warehouse."""
    cli = stack.cli_started("materialize", "--all")
    first = cli.stdout.readline()  # "run <id> on <url>"
    assert first.startswith("run "), first + cli.stdout.read()
    run_id = first.split()[1]
    wait_for_status(stack.graphql, run_id, {"STARTED"}, timeout=300)
    step = wait_for_step_start(stack.graphql, run_id, timeout=300)
    container_id = run(stack.graphql, run_id)["tags"]["docker/container_id"]
    holders = [s["runId"] for s in pool(stack.graphql)["claimedSlots"]]
    subprocess.run(["docker", "kill", container_id], capture_output=True, check=True)
    killed = time.monotonic()

    failed = wait_for_status(stack.graphql, run_id, FINISHED, timeout=300)
    marked = time.monotonic() - killed
    assert failed["status"] == "FAILURE", failed
    failures = [e["message"] for e in all_events(stack.graphql, run_id) if e["__typename"] == "RunFailureEvent"]
    assert any("Detected run worker status" in m for m in failures), failures  # run monitoring did it

    deadline = time.monotonic() + 120
    while True:
        slots = pool(stack.graphql)
        if not any(s["runId"] == run_id for s in slots["claimedSlots"] + slots["pendingSteps"]):
            break
        assert time.monotonic() < deadline, f"warehouse slot of the killed run not freed: {slots}"
        time.sleep(0.5)
    freed = time.monotonic() - killed

    retry_id = retry_of(stack, run_id)
    retried = time.monotonic() - killed
    output, _ = cli.communicate(timeout=900)
    cli_done = time.monotonic() - killed
    retry = wait_for_runs(stack.graphql, [retry_id], timeout=60)[retry_id]
    assert cli.returncode == 0, first + output
    assert f"Dagster retries it once: run {retry['runId']}" in output and "SUCCESS" in output, output

    # The warehouse survived a writer killed mid-step: the next writer gets the slot and the file.
    after, _, _ = launch_retrying(stack, "materialize_all", None, test_tag)
    done = wait_for_runs(stack.graphql, [after], timeout=900)[after]
    recovered = time.monotonic() - killed
    print(f"\nrun container killed during step {step} (slot held by the run: {run_id in holders}): run {failed['status']} "
          f"{marked:.1f} s after the kill ({failures[0][:60]}...), its slot free at {freed:.1f} s, retry "
          f"{retry['status']} (created at {retried:.1f} s, the CLI followed it and exited {cli.returncode} at "
          f"{cli_done:.1f} s), next materialize_all {done['status']} at {recovered:.1f} s")
    assert retry["status"] == "SUCCESS", retry
    assert done["status"] == "SUCCESS", done
    assert not lock_errors(stack.graphql, [run_id, retry["runId"], after])


SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 5) { status timestamp error { message } } } }
  }
}
"""


def first_good_sensor_tick(stack, after: float, timeout: float = 180) -> float:
    """Epoch of the first inbox_sensor tick evaluated (by the daemon, through the code server) after `after`."""
    selector = {"repositoryLocationName": "clawdata", "repositoryName": "__repository__", "sensorName": "inbox_sensor"}
    deadline = time.monotonic() + timeout
    while True:
        ticks = stack.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]
        good = [t["timestamp"] for t in ticks if t["timestamp"] > after and t["status"] in ("SKIPPED", "SUCCESS")]
        if good:
            return min(good)
        assert time.monotonic() < deadline, f"no good sensor tick within {timeout} s after the restart: {ticks}"
        time.sleep(1)


def test_code_server_restarted(stack, test_tag):
    others = {s: container(stack, s) for s in ("webserver", "daemon")}
    start = time.time()
    stack.compose("restart", "user_code")
    restarted = time.time() - start

    # A user's next command, at once (as after `docker compose up -d --build user_code`): the CLI waits
    # for the code server to answer again, then runs. No reload, no restart of anything else.
    result = stack.cli("materialize", *("/".join(p) for p in SMALL))
    ran = time.time() - start
    wait_service_healthy(stack, "user_code")
    sensor = first_good_sensor_tick(stack, after=start + restarted) - start
    print(f"\ncode server restarted ({restarted:.1f} s); `materialize` launched right after ended at {ran:.1f} s "
          f"(exit {result.returncode}); daemon's sensor tick through the new server at {sensor:.1f} s\n{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "HTTP 500" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert {s: container(stack, s) for s in ("webserver", "daemon")} == others  # nothing else restarted


def failure_story(graphql, run_id: str) -> list[str]:
    """What a failed run's event log says went wrong (error events, with their error chains)."""
    story = []
    for e in all_events(graphql, run_id):
        if e.get("error") or e["__typename"] in ("RunFailureEvent", "ExecutionStepFailureEvent"):
            error = e.get("error") or {}
            chain = " <- ".join(link["error"]["message"].strip()[:300] for link in error.get("errorChain") or [])
            story.append(f"{e['__typename']} {e.get('stepKey') or ''}: {e['message'][:200]} | {(error.get('message') or '').strip()[:500]}"
                         + (f" <- {chain}" if chain else ""))
    return story


def history(stack) -> dict[str, tuple[str, int]]:
    """Each finished run's status and number of events."""
    return {r["runId"]: (r["status"], len(all_events(stack.graphql, r["runId"])))
            for r in runs(stack.graphql, limit=500) if r["status"] in FINISHED}


def lost_or_changed(before: dict[str, tuple[str, int]], now: dict[str, tuple[str, int]]) -> dict:
    """The runs of `before` gone, with another status, or with fewer events now. A failed run may gain
    events after it ended: Dagster writes its retry there, late on a busy host (a CI run once read 4
    events of a failed run of the test before, then 6)."""
    return {i: (v, now.get(i)) for i, v in before.items() if now.get(i) is None or now[i][0] != v[0] or now[i][1] < v[1]}


def test_postgres_restarted_while_idle(stack, test_tag):
    wait_until_idle(stack.graphql, timeout=600)  # idle: what the tests before launched has ended
    before = history(stack)
    start = time.monotonic()
    stack.compose("restart", "postgres")
    wait_service_healthy(stack, "postgres")
    back = time.monotonic() - start

    # The first things a user does once Postgres is back: look at the runs, launch one. No error, no
    # half-created run: the webserver reconnects instead of failing on a dead pooled connection.
    try:
        listed = runs(stack.graphql, limit=500)
        run_id = launch(stack.graphql, "__ASSET_JOB", SMALL, test_tag)
    except ClawdataError as e:
        stranded = [r for r in retrying(lambda: runs(stack.graphql, tags=test_tag)) if r["status"] == "NOT_STARTED"]
        raise AssertionError(f"first request to the webserver after the Postgres restart failed: {e}\n"
                             f"runs left NOT_STARTED by it: {[r['runId'] for r in stranded]}") from None
    done = wait_for_runs(stack.graphql, [run_id], timeout=900)[run_id]
    recovered = time.monotonic() - start
    now = history(stack)
    changed = lost_or_changed(before, now)
    print(f"\npostgres restarted while idle: healthy {back:.1f} s after the restart began, first UI requests ok, "
          f"new run {done['status']} at {recovered:.1f} s; {len(before)} finished runs before, lost or changed {len(changed)}")
    assert {r["runId"] for r in listed} >= set(before)
    assert done["status"] == "SUCCESS", done
    assert not changed, changed


def test_postgres_restarted_mid_run(stack, test_tag):
    """The run carries on, or, if Postgres dropped one of its event writes, ends FAILURE for that reason:
    never stuck, slot freed, what it recorded before kept; Dagster retries it unless the write was a
    step's own (a step failure), and the retry and the next run succeed. Nothing recorded before the
    restart is lost."""
    before = history(stack)
    run_id, step = mid_run(stack, test_tag)
    start = time.monotonic()
    stack.compose("restart", "postgres")
    wait_service_healthy(stack, "postgres")
    back = time.monotonic() - start

    errors: list[str] = []  # what the webserver answered meanwhile (the idle test asserts on these)
    during = retrying(lambda: wait_for_runs(stack.graphql, [run_id], timeout=900), errors=errors)[run_id]
    ended = time.monotonic() - start
    kinds = [e["__typename"] for e in retrying(lambda: all_events(stack.graphql, run_id), errors=errors)]
    outcome = during["status"]
    if during["status"] == "SUCCESS":
        complete_event_log(stack.graphql, run_id)  # no event lost: every step started and ended
    else:
        story = failure_story(stack.graphql, run_id)
        assert during["status"] == "FAILURE" and "RunFailureEvent" in kinds, story
        assert any("server closed the connection" in line or "OperationalError" in line for line in story), story
        assert "RunStartEvent" in kinds and "ExecutionStepStartEvent" in kinds, kinds  # recorded before: kept
        outcome += f" ({story[-1].split('|')[1].strip()[:90]}...)"
        # Dagster retries a run that failed outside its steps (run_retries), and that retry must succeed.
        # If the dropped write was inside a step, the step failed: not retried, like any step failure.
        tags = retry_decision(stack, run_id)
        if tags["dagster/will_retry"] == "true":
            retry = retrying(lambda: retry_of(stack, run_id))
            retried = retrying(lambda: wait_for_runs(stack.graphql, [retry], timeout=900))[retry]
            outcome += f", retried at {time.monotonic() - start:.1f} s: {retried['status']}"
            assert retried["status"] == "SUCCESS", failure_story(stack.graphql, retry)
        else:
            assert tags.get("dagster/failure_reason") == "STEP_FAILURE", tags
            outcome += ", a step failure: not retried"
    after, _, launch_errors = launch_retrying(stack, "__ASSET_JOB", SMALL, test_tag)
    done = wait_for_runs(stack.graphql, [after], timeout=900)[after]
    recovered = time.monotonic() - start
    now = retrying(lambda: history(stack), errors=errors)
    changed = lost_or_changed(before, now)
    print(f"\npostgres restarted during step {step} of run {run_id[:8]}: healthy {back:.1f} s after the restart "
          f"began; that run ended at {ended:.1f} s: {outcome}, {len(kinds)} events; next run {done['status']} at "
          f"{recovered:.1f} s; webserver errors meanwhile {len(errors) + len(launch_errors)}; {len(before)} "
          f"finished runs before, lost or changed {len(changed)}")
    assert done["status"] == "SUCCESS", done
    assert not changed, changed
    assert not lock_errors(stack.graphql, [run_id, after])
    wait_until_idle(stack.graphql, timeout=300)  # nothing stuck, the killed-over run's slot freed
