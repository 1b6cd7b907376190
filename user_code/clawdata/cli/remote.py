"""A deployment: runs launched through the webserver's GraphQL API, so they go through the run queue
(and the warehouse pool), run in their own containers and show in the shared UI."""

import time
from collections.abc import Iterator, Sequence

from clawdata.cli import queries
from clawdata.cli.errors import ClawdataError
from clawdata.cli.graphql import LOCATION, REPOSITORY, HttpGraphQL, expect
from clawdata.cli.progress import RunEvent, failure_text, rows_detail

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def launch(graphql: HttpGraphQL, job_name: str, asset_paths: Sequence[list[str]] | None, tags: dict[str, str]) -> str:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job_name}
    if asset_paths is not None:
        selector["assetSelection"] = [{"path": p} for p in asset_paths]
    params = {"selector": selector, "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}}
    result = graphql(queries.LAUNCH_RUN, {"params": params})["launchRun"]
    return expect(result, "LaunchRunSuccess", "launching the run failed")["run"]["runId"]


def follow(graphql: HttpGraphQL, run_id: str, poll_seconds: float = 1.0, timeout: float = 3600) -> Iterator[RunEvent | str]:
    """Yield the run's progress until it ends; the last item is its final status."""
    cursor, deadline = None, time.monotonic() + timeout
    while True:
        data = graphql(queries.RUN_EVENTS, {"runId": run_id, "after": cursor})
        run = expect(data["runOrError"], "Run", f"run {run_id}")
        logs = expect(data["logsForRun"], "EventConnection", f"events of run {run_id}")
        for event in logs["events"]:
            mapped = _from_graphql_event(event)
            if mapped:
                yield mapped
        cursor = logs["cursor"]
        if run["status"] in TERMINAL and not logs["hasMore"]:
            yield run["status"]
            return
        if time.monotonic() > deadline:
            raise ClawdataError(f"run {run_id} did not finish within {timeout:.0f} s (status {run['status']})")
        if not logs["hasMore"]:
            time.sleep(poll_seconds)


def _from_graphql_event(event: dict) -> RunEvent | None:
    kind = event["__typename"]
    if kind == "ExecutionStepStartEvent":
        return RunEvent("step_start", event["stepKey"])
    if kind == "ExecutionStepFailureEvent":
        causes, error = [], event["error"]
        while error:
            causes.append(error["message"])
            error = error.get("cause")
        description = (event.get("failureMetadata") or {}).get("description")
        return RunEvent("step_failure", event["stepKey"], failure_text(description, causes), ok=False)
    if kind == "MaterializationEvent":
        entries = {m["label"]: m for m in event["metadataEntries"]}
        rows = entries.get("dagster/row_count", {}).get("intValue")
        reused = entries.get("reused", {}).get("boolValue", False)
        return RunEvent("materialized", "/".join(event["assetKey"]["path"]), rows_detail(rows, reused))
    if kind == "AssetCheckEvaluationEvent":
        evaluation = event["evaluation"]
        name = f"{'/'.join(evaluation['assetKey']['path'])}:{evaluation['checkName']}"
        return RunEvent("check", name, ok=evaluation["success"])
    if kind == "RunFailureEvent":
        return RunEvent("run_failure", "run", (event.get("error") or {}).get("message") or event["message"], ok=False)
    return None
