"""Reading runs from a stack's GraphQL API, for the stack tests."""

import time

from clawdata.cli.graphql import LOCATION, REPOSITORY
from clawdata.cli.queries import EVENT_FIELDS

RUNS = """
query Runs($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    ... on Runs { results { runId status jobName creationTime startTime endTime tags { key value } } }
  }
}
"""

def runs(graphql, tags: dict[str, str] | None = None, limit: int = 100) -> list[dict]:
    run_filter = {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]} if tags else None
    results = graphql(RUNS, {"filter": run_filter, "limit": limit})["runsOrError"]["results"]
    for run in results:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
    return results


def run(graphql, run_id: str) -> dict:
    return next(r for r in runs(graphql, limit=500) if r["runId"] == run_id)


def wait_for_run(graphql, predicate, timeout: float, what: str, poll: float = 1.0) -> dict:
    """The first run matching `predicate` that has finished; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in runs(graphql):
            if predicate(r) and r["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return r
        time.sleep(poll)
    raise AssertionError(f"no finished run {what} within {timeout:.0f} s; runs: "
                         + ", ".join(f"{r['runId'][:8]} {r['status']} {r['tags']}" for r in runs(graphql)[:10]))


def event_messages(graphql, run_id: str) -> list[str]:
    return [e.get("message") or "" for e in all_events(graphql, run_id)]


# --- Concurrency and fault tests -------------------------------------------------------------------

ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING", "MANAGED")
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
WAREHOUSE_POOL = "duckdb_warehouse"
LOCK_ERROR = ("Could not set lock", "Conflicting lock")

ALL_RUN_EVENTS = EVENT_FIELDS + """
query AllEvents($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after, limit: 1000) {
    __typename
    ... on EventConnection { cursor hasMore events { ...EventFields } }
    ... on PythonError { message }
  }
}
"""

POOL = """
query Pool($key: String!) {
  instance {
    concurrencyLimit(concurrencyKey: $key) {
      slotCount limit claimedSlots { runId stepKey } pendingSteps { runId stepKey assignedTimestamp }
    }
  }
}
"""

SCHEDULE = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename ... on Schedule { name scheduleState { id status } }
  }
}
"""

STOP_SCHEDULE = """
mutation Stop($id: String) {
  stopRunningSchedule(id: $id) { __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } }
}
"""

START_SCHEDULE = """
mutation Start($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) { __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } }
}
"""

DAEMON_HEALTH = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"


def all_events(graphql, run_id: str) -> list[dict]:
    """Every event of a run (engine events, step failures with their error chains included)."""
    events, cursor = [], None
    while True:
        connection = graphql(ALL_RUN_EVENTS, {"runId": run_id, "after": cursor})["logsForRun"]
        assert connection["__typename"] == "EventConnection", connection
        events += connection["events"]
        cursor = connection["cursor"]
        if not connection["hasMore"]:
            return events


def lock_errors(graphql, run_ids) -> dict[str, list[str]]:
    """Per run, the events that mention a DuckDB lock conflict (message, error, cause, stack)."""
    import json

    found = {}
    for run_id in run_ids:
        hits = [json.dumps(e)[:600] for e in all_events(graphql, run_id) if any(s in json.dumps(e) for s in LOCK_ERROR)]
        if hits:
            found[run_id] = hits
    return found


def wait_for_runs(graphql, run_ids, timeout: float, poll: float = 2.0) -> dict[str, dict]:
    """Every one of `run_ids` once finished; fails after `timeout` seconds naming the unfinished."""
    wanted, deadline = set(run_ids), time.monotonic() + timeout
    while True:
        current = {r["runId"]: r for r in runs(graphql, limit=500) if r["runId"] in wanted}
        if len(current) == len(wanted) and all(r["status"] in FINISHED for r in current.values()):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"runs not finished within {timeout:.0f} s: "
                                 + ", ".join(f"{i[:8]} {current.get(i, {}).get('status', 'MISSING')}" for i in sorted(wanted)
                                             if current.get(i, {}).get("status") not in FINISHED))
        time.sleep(poll)


def wait_for_status(graphql, run_id: str, statuses, timeout: float, poll: float = 0.5) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = next((r for r in runs(graphql, limit=500) if r["runId"] == run_id), None)
        if r and r["status"] in statuses:
            return r
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id[:8]} not in {statuses} within {timeout:.0f} s: {r and r['status']}")
        time.sleep(poll)


def wait_for_step_start(graphql, run_id: str, timeout: float, poll: float = 0.5) -> str:
    """The key of the first step the run started (it then holds the warehouse slot)."""
    deadline = time.monotonic() + timeout
    while True:
        started = [e for e in all_events(graphql, run_id) if e["__typename"] == "ExecutionStepStartEvent"]
        if started:
            return started[0]["stepKey"]
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id[:8]} started no step within {timeout:.0f} s")
        time.sleep(poll)


def active_runs(graphql) -> list[dict]:
    return [r for r in runs(graphql, limit=500) if r["status"] in ACTIVE]


def pool(graphql, key: str = WAREHOUSE_POOL) -> dict:
    return graphql(POOL, {"key": key})["instance"]["concurrencyLimit"]


def wait_until_idle(graphql, timeout: float, poll: float = 2.0) -> None:
    """No run queued or in progress and no warehouse slot claimed or step pending."""
    deadline = time.monotonic() + timeout
    while True:
        active, slots = active_runs(graphql), pool(graphql)
        if not active and not slots["claimedSlots"] and not slots["pendingSteps"]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not idle within {timeout:.0f} s: runs "
                                 + ", ".join(f"{r['runId'][:8]} {r['status']}" for r in active) + f"; pool {slots}")
        time.sleep(poll)


def daemons_healthy(graphql) -> bool:
    statuses = graphql(DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return all(d["healthy"] for d in statuses if d["required"])


def _schedule_selector(name: str) -> dict:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": name}


def schedule_status(graphql, name: str = "daily_refresh") -> str:
    return graphql(SCHEDULE, {"selector": _schedule_selector(name)})["scheduleOrError"]["scheduleState"]["status"]


# The scheduler daemon iterates at each minute boundary and writes back (as a checkpoint) the schedule
# state it read when the iteration began: in Dagster 1.13 a start or stop that lands during that
# iteration can be overwritten. On a quiet host the iteration is over by this second of the minute;
# on a loaded one it can run past it, so a stop is confirmed across a whole iteration (see below).
SCHEDULER_ITERATION_SECONDS = 30
STOP_HOLDS_SECONDS = 90  # a minute boundary and a slow iteration's write-back after the stop


def _set_schedule(graphql, name: str, want: str, held_since: float | None = None, hold: bool = True) -> str:
    """Start or stop a schedule as the UI's toggle does, until it holds; returns the status it had.
    A stop must hold for STOP_HOLDS_SECONDS: a schedule that comes back running (every minute in the
    test stack) would queue runs faster than a loaded machine drains them. `hold=False` returns once
    it reads stopped (confirm_stopped() waits out the rest later, while a test goes on)."""
    had, confirming = None, held_since is not None
    while True:
        state = graphql(SCHEDULE, {"selector": _schedule_selector(name)})["scheduleOrError"]["scheduleState"]
        had = had or state["status"]
        if state["status"] != want:
            if want == "RUNNING":
                result = graphql(START_SCHEDULE, {"selector": _schedule_selector(name)})["startSchedule"]
            else:
                result = graphql(STOP_SCHEDULE, {"id": state["id"]})["stopRunningSchedule"]
            assert result["__typename"] == "ScheduleStateResult", result
            held_since = None
        elif held_since is None:
            held_since = time.time()
        if want == "STOPPED":
            if (had == want and not confirming) or (held_since is not None and (not hold or time.time() - held_since >= STOP_HOLDS_SECONDS)):
                return had  # (stopped already: nothing a write-back could undo)
            time.sleep(5)
            continue
        second = time.time() % 60
        if second >= SCHEDULER_ITERATION_SECONDS and held_since is not None:  # set after this minute's iteration
            return had
        time.sleep(max(1.0, SCHEDULER_ITERATION_SECONDS - second))  # then check that it held


def stop_schedule(graphql, name: str = "daily_refresh", hold: bool = True) -> str:
    return _set_schedule(graphql, name, "STOPPED", hold=hold)


def confirm_stopped(graphql, since: float, name: str = "daily_refresh") -> None:
    """After stop_schedule(hold=False) at `since`: the stop held STOP_HOLDS_SECONDS from then (the
    scheduler's write-back of a running state is undone again, the hold counted afresh)."""
    _set_schedule(graphql, name, "STOPPED", held_since=since)


def start_schedule(graphql, name: str = "daily_refresh") -> str:
    return _set_schedule(graphql, name, "RUNNING")


TERMINATE = """
mutation Terminate($ids: [String!]!) {
  terminateRuns(runIds: $ids, terminatePolicy: MARK_AS_CANCELED_IMMEDIATELY) { __typename }
}
"""


def mark_canceled(graphql, run_ids) -> None:
    """Mark runs canceled without asking their workers (for runs that never got one)."""
    if run_ids:
        graphql(TERMINATE, {"ids": list(run_ids)})


def step_intervals(graphql, run_ids) -> list[tuple[float, float, str, str]]:
    """(start, end, run id, step key) of every step of the runs, from their event logs (epoch seconds).
    A step that started and never ended (its run died) counts until its run's last event."""
    intervals = []
    for run_id in run_ids:
        started, last = {}, 0.0
        for e in all_events(graphql, run_id):
            kind, key = e["__typename"], e.get("stepKey")
            last = max(last, float(e.get("timestamp") or 0) / 1000)
            if kind == "ExecutionStepStartEvent":
                started[key] = float(e["timestamp"]) / 1000
            elif kind in ("ExecutionStepSuccessEvent", "ExecutionStepFailureEvent") and key in started:
                intervals.append((started.pop(key), float(e["timestamp"]) / 1000, run_id, key))
        intervals += [(t, last, run_id, key) for key, t in started.items()]
    return intervals


def overlaps(intervals) -> list[tuple]:
    """Pairs of steps of different runs that executed at the same time."""
    ordered, found = sorted(intervals), []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b[0] >= a[1]:
                break
            if b[2] != a[2]:
                found.append((a, b))
    return found
