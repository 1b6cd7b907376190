"""Overlapping materializations from every route at once, on the real stack (issue: concurrency).

The design under test: every step that writes the DuckDB warehouse is in Dagster pool
`duckdb_warehouse` (limit 1, op granularity, queued run coordinator), so however runs from the UI, the
schedule, the sensor and `make materialize` overlap, no step ever meets another's file lock.
"""

import json
import os
import re
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from clawdata.cli.remote import launch
from tests.oracle import WAREHOUSE_TABLES, expected
from tests.stack.inbox import INBOX, drop, remove
from tests.stack.runs import (
    FINISHED, LOCK_ERROR, active_runs, all_events, lock_errors, overlaps, runs, schedule_status, start_schedule,
    step_intervals, stop_schedule, wait_for_runs, wait_until_idle,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
TABLES = list(WAREHOUSE_TABLES)
RUN_ID = re.compile(r"run ([0-9a-f-]{36})")

# Deliveries for the sensor: new keys, and a new version of an existing key (latest wins in silver).
DELIVERIES = {
    "customers_concurrency.csv": (
        "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at\n"
        "910001,Ada,Lovelace,ADA@example.org,,London,gb,2026-11-20,2026-11-20 10:00:00\n"
        "910002,Edsger,Dijkstra,ewd@example.org,,Nuenen,nl,2026-11-21,2026-11-21 10:00:00\n"
        "1,John,O'Brien,john.obrien@example.org,,Dublin,ie,2024-01-01,2026-11-22 10:00:00\n"
    ),
    "orders_concurrency.csv": (
        "order_id,customer_id,product_id,order_date,quantity,unit_price,status,updated_at\n"
        "920001,910001,3,2026-11-22,2,10.50,delivered,2026-11-22 11:00:00\n"
        "920002,910002,5,2026-11-22,1,99.99,shipped,2026-11-22 11:00:00\n"
        "920003,2,7,2026-11-23,4,5.25,cancelled,2026-11-23 11:00:00\n"
    ),
}
# UI-style launches: what the Launchpad ("Materialize all") and "Materialize selected" send.
# (one of each: more runs of the same route only lengthened the pool's queue, 13-20 s a run)
UI_LAUNCHES = [("materialize_all", None), ("__ASSET_JOB", [["raw_orders"], ["slv_orders"]])]


def make_materialize(stack) -> subprocess.CompletedProcess:
    """`make materialize` itself, against this stack (the Makefile's COMPOSE, with the stack's env file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDATA_", "DAGSTER_"))}
    return subprocess.run(
        ["make", "--no-print-directory", "materialize", f"COMPOSE=docker compose --env-file {stack.env_file}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )


def scheduled_since(stack, since: float) -> list[dict]:
    return [r for r in runs(stack.graphql, limit=500)
            if r["tags"].get("dagster/schedule_name") == "daily_refresh" and r["creationTime"] >= since]


def wait_for_sensor_run(stack, file_name: str, since: float, timeout: float = 180) -> str:
    """The id of the run inbox_sensor requested for a delivered file."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r["runId"] for r in runs(stack.graphql, limit=500)
                 if r["tags"].get("dagster/sensor_name") == "inbox_sensor" and r["creationTime"] >= since
                 and file_name in r["tags"].get("clawdata/trigger", "")]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no inbox_sensor run for {file_name} within {timeout} s"
        time.sleep(1)


def test_overlapping_runs_from_every_route(stack):
    schedule_was = schedule_status(stack.graphql)
    start_schedule(stack.graphql)  # every minute in this stack: it joins the overlap
    try:
        run_overlap(stack)
    finally:
        (start_schedule if schedule_was == "RUNNING" else stop_schedule)(stack.graphql)
        # Later tests count rows against the sample and their own deliveries only.
        remove(stack, *DELIVERIES)


def run_overlap(stack):
    started = time.time()
    already_active = {r["runId"] for r in active_runs(stack.graphql)}
    submitted: dict[str, list[str]] = {"ui": [], "cli": [], "make": [], "sensor": [], "schedule": []}
    outputs: list[str] = []

    # The sensor first: two deliveries, the second once the first has its run, so two sensor runs join.
    # (Dropped after the other routes' runs had started, a delivery could be taken in by one of
    # them before a tick saw it, and the sensor rightly asked for nothing: the test failed by timing.)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in DELIVERIES.items():
            drop(stack, name, content, Path(tmp))
            submitted["sensor"].append(wait_for_sensor_run(stack, name, since=started))

    # The CLI and `make materialize` block until their run ends: a thread each, all started at once.
    def blocking(route, command):
        result = command()
        outputs.append(result.stdout + result.stderr)
        submitted[route] += RUN_ID.findall(result.stdout)[:1]

    threads = [threading.Thread(target=blocking, args=("cli", lambda: stack.cli("materialize", "--all", timeout=1500))),
               threading.Thread(target=blocking, args=("cli", lambda: stack.cli("materialize", "raw_customers", "slv_customers", timeout=1500))),
               threading.Thread(target=blocking, args=("make", lambda: make_materialize(stack)))]
    for t in threads:
        t.start()

    tags = {"clawdata/test": f"concurrency-{uuid.uuid4().hex[:8]}"}
    for job, selection in UI_LAUNCHES:
        submitted["ui"].append(launch(stack.graphql, job, selection, tags))

    # Once one scheduled run has joined the overlap, the schedule is paused: a backlog of one run a
    # minute would only lengthen the test (and the warehouse must go quiet for an exact count).
    deadline = time.monotonic() + 150
    while not scheduled_since(stack, started) and time.monotonic() < deadline:
        time.sleep(2)
    stop_schedule(stack.graphql)

    for t in threads:
        t.join(timeout=1800)
    assert not any(t.is_alive() for t in threads), "a CLI / make materialize did not return"
    assert len(submitted["cli"]) == 2 and len(submitted["make"]) == 1, "\n".join(outputs)
    # `make materialize` links the run's page at the UI's address (not the stack's inside name).
    assert f"(in the UI: {stack.url}/runs/{submitted['make'][0]})" in "\n".join(outputs), "\n".join(outputs)
    ours = [i for route in ("ui", "cli", "make", "sensor") for i in submitted[route]]
    wait_for_runs(stack.graphql, ours, timeout=1800)
    ours_done = time.time()
    wait_until_idle(stack.graphql, timeout=900)
    quiet = time.time()
    with tempfile.TemporaryDirectory() as inbox:  # everything delivered so far, by any test
        stack.compose("cp", f"user_code:{INBOX}/.", inbox)
        oracle = expected(SAMPLE, Path(inbox))
    counts = stack.warehouse_counts(TABLES)

    # Every run that overlapped this test, whoever launched it.
    overlapping = [r for r in runs(stack.graphql, limit=500)
                   if r["runId"] in already_active or started <= r["creationTime"] <= quiet]
    submitted["schedule"] = [r["runId"] for r in overlapping if r["tags"].get("dagster/schedule_name") == "daily_refresh"]
    statuses = {r["runId"]: r["status"] for r in overlapping}
    succeeded = [i for i, s in statuses.items() if s == "SUCCESS"]
    errors = lock_errors(stack.graphql, statuses)
    logs = stack.compose("logs", "--no-color", check=False).stdout
    log_lock_lines = [line for line in logs.splitlines() if any(s in line for s in LOCK_ERROR)]
    # The design itself: no two steps (each writes the warehouse) of different runs ever ran at once.
    # Lock errors alone would not show a breach: DuckDBResource retries a locked file for ~100 s.
    steps = step_intervals(stack.graphql, statuses)
    concurrent = overlaps(steps)
    print(f"\nconcurrency: submitted ui={len(submitted['ui'])} cli={len(submitted['cli'])} make={len(submitted['make'])} "
          f"sensor={len(submitted['sensor'])} schedule={len(submitted['schedule'])}; overlapping runs {len(statuses)}, "
          f"succeeded {len(succeeded)}; lock errors in event logs {sum(map(len, errors.values()))}, in service logs "
          f"{len(log_lock_lines)}; warehouse steps {len(steps)}, pairs run at the same time {len(concurrent)}; "
          f"ours all finished {ours_done - started:.0f} s after the first submission, idle at {quiet - started:.0f} s")

    assert set(ours) <= set(statuses)
    assert len(ours) >= 7 and submitted["schedule"], submitted  # every route took part
    assert all(s in FINISHED for s in statuses.values())
    assert succeeded == list(statuses), {i[:8]: s for i, s in statuses.items() if s != "SUCCESS"}
    assert not errors, errors
    assert not log_lock_lines, log_lock_lines[:10]
    assert not concurrent, [f"{a[2][:8]} {a[3]} with {b[2][:8]} {b[3]} for {min(a[1], b[1]) - b[0]:.1f} s"
                            for a, b in concurrent[:10]]

    # Exact rows: what the CSV files (sample and every delivery) say, computed independently.
    for table in ("raw_customers", "slv_customers", "raw_orders", "slv_orders", "raw_products", "slv_products"):
        assert counts[table] == oracle[table], (table, counts[table], oracle[table])
    assert counts["dim_customers"] == oracle["slv_customers"]
    assert all(counts[t] > 0 for t in ("fct_daily_revenue", "fct_category_revenue"))


def test_one_slot_holder_when_run_workers_claim_at_once(stack):
    """The pool's guarantee where it is decided: run workers claiming a one-slot pool at the same
    instant, through the deployment's own event log storage. Dagster 1.13's claim let two of them
    hold the slot in 15-27 of 100 such rounds (deploy/clawdata_storage.py); here none may. 40 rounds
    (about a second each) miss a claim that breaks that often with a chance under 0.2 %."""
    probe = (Path(__file__).parent / "pool_claim_probe.py").read_text()
    result = json.loads(stack.compose("exec", "-T", "daemon", "python", "-", "40", input=probe).stdout)
    print(f"\nsimultaneous claims of a one-slot pool (6 workers, {result['rounds']} rounds, {result['storage']}): "
          f"rounds with several holders {result['several_holders']}, with none {result['no_holder']}")
    assert result["storage"] == "ClawdataEventLogStorage", result
    assert result["several_holders"] == 0 and result["no_holder"] == 0, result


STORM = 8
STORM_SELECTION = [["raw_products"], ["slv_products"]]


def failure_causes(graphql, run_id: str) -> list[str]:
    """Why a run failed, from its events: step failures with their errors, run-level messages."""
    causes = []
    for event in all_events(graphql, run_id):
        kind = event.get("__typename", "")
        if kind in ("ExecutionStepFailureEvent", "RunFailureEvent", "EngineEvent") and (
                kind != "EngineEvent" or "fail" in (event.get("message") or "").lower()):
            error = (event.get("error") or {}).get("message") or ""
            causes.append(f"{kind}: {event.get('message') or ''} {error.strip().splitlines()[0] if error.strip() else ''}".strip())
    return causes


def test_a_storm_of_launches_all_succeed(stack):
    """Eight runs launched at the same moment through GraphQL (the UI's route): every one ends
    SUCCESS, itself or through Dagster's retry; the cause of any failure is printed. What they build
    is small (one source's bronze and silver, in the warehouse pool): what the storm tests is eight
    run containers starting, loading the code and claiming the pool at once. Full runs overlapping
    are the overlap test's (above); eight of them here took 320-370 s of CI, in series in the pool."""
    wait_until_idle(stack.graphql, timeout=900)
    tags = {"clawdata/test": f"storm-{uuid.uuid4().hex[:8]}"}
    launched: list[str] = []
    barrier = threading.Barrier(STORM)

    def one():
        barrier.wait()
        launched.append(launch(stack.graphql, "__ASSET_JOB", STORM_SELECTION, tags))

    threads = [threading.Thread(target=one) for _ in range(STORM)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(launched) == STORM
    finished = wait_for_runs(stack.graphql, launched, timeout=1800)
    outcomes, causes = {}, {}
    for run_id, r in finished.items():
        final = r
        if r["status"] != "SUCCESS":  # a retry (run_retries) carries the run's root id
            causes[run_id] = failure_causes(stack.graphql, run_id)
            retries = [x for x in runs(stack.graphql, {"dagster/root_run_id": run_id}, limit=50)]
            if retries:
                final = wait_for_runs(stack.graphql, [x["runId"] for x in retries], timeout=1800)[retries[0]["runId"]]
        outcomes[run_id] = final["status"]
    print(f"storm: {sum(s == 'SUCCESS' for s in outcomes.values())} of {STORM} SUCCESS; causes of failures: {causes}")
    assert all(s == "SUCCESS" for s in outcomes.values()), (outcomes, causes)
    assert not lock_errors(stack.graphql, launched), "a step met another's DuckDB lock"
