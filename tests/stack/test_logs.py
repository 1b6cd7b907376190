"""Compute logs in the stack: what a run's steps print and what a sensor tick logs is read back through
the webserver's GraphQL API (`capturedLogs`, as the UI's stdout/stderr tabs read it) and through
`clawdata dagster --url ... logs`."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from clawdata.cli.graphql import LOCATION, REPOSITORY
from tests.stack.inbox import drop, remove, wait_for_first_sensor_tick
from tests.stack.runs import all_events, wait_for_run, wait_until_idle

CAPTURED = """
query Captured($logKey: [String!]!) { capturedLogs(logKey: $logKey) { stdout stderr } }
"""
CAPTURES = """
query Captures($runId: ID!) {
  logsForRun(runId: $runId, limit: 1000) { ... on EventConnection { events { __typename ... on LogsCapturedEvent { fileKey stepKeys } } } }
}
"""
SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) { ... on Sensor { sensorState { ticks(limit: 100, statuses: [SUCCESS]) { status runIds logKey } } } }
}
"""


DELIVERY = "customers_logs.csv"
ROOT = Path(__file__).resolve().parents[2]  # the Makefile's


def _captured(stack, log_key) -> str:
    logs = stack.graphql(CAPTURED, {"logKey": log_key})["capturedLogs"]
    return (logs["stdout"] or "") + (logs["stderr"] or "")


@pytest.fixture(scope="module")
def delivery_run(stack, tmp_path_factory):
    """The run the inbox sensor starts for a delivery of this module's own: silver changes, so dbt runs."""
    # On a fresh stack the sensor's first run (sources never materialized) would take the file in.
    wait_for_first_sensor_tick(stack)
    wait_until_idle(stack.graphql, timeout=600)
    dropped = time.time()
    drop(stack, DELIVERY, "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at\n"
         "930001,Margaret,Hamilton,margaret@example.org,,Boston,us,2026-11-25,2026-11-25 09:00:00\n",
         tmp_path_factory.mktemp("logs"))
    try:
        yield wait_for_run(stack.graphql, lambda r: r["tags"].get("dagster/sensor_name") == "inbox_sensor"
                           and DELIVERY in r["tags"].get("clawdata/trigger", "") and r["creationTime"] >= dropped - 1,
                           600, f"requested by the inbox sensor for {DELIVERY}")
    finally:  # later tests count rows against the sample and their own deliveries
        remove(stack, DELIVERY)


def test_step_output_is_read_back_through_the_webserver(stack, delivery_run):
    run = delivery_run
    assert run["status"] == "SUCCESS", run
    events = stack.graphql(CAPTURES, {"runId": run["runId"]})["logsForRun"]["events"]
    captures = [e for e in events if e["__typename"] == "LogsCapturedEvent"]
    gold = next(c for c in captures if "gold_models" in c["stepKeys"])
    logs = stack.graphql(CAPTURED, {"logKey": [run["runId"], "compute_logs", gold["fileKey"]]})["capturedLogs"]
    assert "Running with dbt=" in logs["stdout"] and "Done. PASS=" in logs["stdout"], logs["stdout"][-2000:]  # dbt's own summary line
    assert "raw_customers: " in logs["stdout"] and " rows, published" in logs["stdout"]  # a Python asset's print
    # No compute-log setup failure (the unwritable default directory) in the run's events.
    assert not [e for e in all_events(stack.graphql, run["runId"]) if "compute log capture" in (e.get("message") or "")]

    cli = stack.cli("logs", run["runId"][:8], "gold_models")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "Running with dbt=" in cli.stdout and "stdout (" in cli.stdout
    print("\n".join(l for l in cli.stdout.splitlines() if "dbt" in l.lower() or "stdout (" in l)[:3000])

    # What a failed `make materialize` tells a user to run: the same, from the user-code image.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDATA_", "DAGSTER_"))}
    made = subprocess.run(["make", "--no-print-directory", "run-logs", f"RUN={run['runId'][:8]}", "STEP=gold_models",
                           f"COMPOSE={stack.compose_command()}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Running with dbt=" in made.stdout and "stdout (" in made.stdout, made.stdout[-2000:]


def test_a_sensor_ticks_log_is_read_back(stack, delivery_run):
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": "inbox_sensor"}
    ticks = stack.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]
    requested = delivery_run["tags"].get("dagster/root_run_id", delivery_run["runId"])  # the run the tick requested
    tick = next(t for t in ticks if requested in (t["runIds"] or []))
    assert tick["logKey"], tick
    assert f"customers: {DELIVERY}" in _captured(stack, tick["logKey"])
