"""A deployment: runs launched through the webserver's GraphQL API, so they go through the run queue
(and the warehouse pool), run in their own containers and show in the shared UI."""

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from clawdata.cli import queries
from clawdata.cli.errors import ClawdataError, CodeLocationNotReady
from clawdata.cli.graphql import LOCATION, REPOSITORY, HttpGraphQL, expect
from clawdata.cli.progress import FAILED_ROWS, RunEvent, check_detail, errors, escape, failure_text, rows_detail
from clawdata.settings import FAILED_METADATA, NOT_BUILT_METADATA

T = TypeVar("T")

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# Dagster's run tags (dagster._core.storage.tags, private): set on a failed run that will be retried,
# and on the retry.
WILL_RETRY_TAG = "dagster/will_retry"
PARENT_RUN_ID_TAG = "dagster/parent_run_id"
# With run_retries on, Dagster writes a failed run's status and then, in a second write, its will_retry
# tag (dagster/_core/instance/methods/event_methods.py); a poll between the two sees neither. The tag
# follows within milliseconds; without run_retries it never comes, and a failure waits this long.
RETRY_TAG_GRACE_SECONDS = 5.0


# How long a command waits for a code location that is loading or a code server that does not answer
# (restarting after `docker compose up -d --build user_code`: it answers within seconds of starting).
CODE_SERVER_WAIT_SECONDS = 90
# `status` waits less: without the code server it still shows the runs and the daemon's health.
STATUS_WAIT_SECONDS = 10


def raise_if_code_server_down(where: str, *messages: str | None) -> None:
    """CodeLocationNotReady when one of Dagster's error messages says the code server did not answer
    (not that the code failed): worth waiting for."""
    if any("DagsterUserCodeUnreachableError" in (m or "") for m in messages):
        raise CodeLocationNotReady(f"the code server of '{LOCATION}' does not answer {where}")


def when_code_server_answers(attempt: Callable[[], T], wait_seconds: float = CODE_SERVER_WAIT_SECONDS,
                             poll_seconds: float = 2.0) -> T:
    """attempt(), again while it finds the code location not ready, for up to wait_seconds."""
    deadline, said = time.monotonic() + wait_seconds, False
    while True:
        try:
            return attempt()
        except CodeLocationNotReady as e:
            if time.monotonic() >= deadline:
                raise ClawdataError(f"{e} (waited {wait_seconds:.0f} s). Is it up? `make ps`, "
                                    "`docker compose logs user_code`") from None
            if not said:
                errors.print(f"[dim]{escape(str(e))}: waiting up to {wait_seconds:.0f} s for it[/]")
                said = True
            time.sleep(poll_seconds)


def launch(graphql: HttpGraphQL, job_name: str, asset_paths: Sequence[list[str]] | None, tags: dict[str, str],
           checks: Sequence[tuple[list[str], str]] | None = None) -> str:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job_name}
    if asset_paths is not None:
        selector["assetSelection"] = [{"path": p} for p in asset_paths]
        if checks is not None:
            selector["assetCheckSelection"] = [{"assetKey": {"path": p}, "name": n} for p, n in checks]
    params = {"selector": selector, "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}}
    result = graphql(queries.LAUNCH_RUN, {"params": params})["launchRun"]
    if result.get("__typename") != "LaunchRunSuccess":
        # No run was made: Dagster needs the code server's plan of the job before it makes one. (While
        # the code server restarts, Dagster answers an InvalidSubsetError or a PythonError saying so.)
        raise_if_code_server_down(graphql.where, result.get("message"))
    return expect(result, "LaunchRunSuccess", "launching the run failed")["run"]["runId"]


def follow(graphql: HttpGraphQL, run_id: str, poll_seconds: float = 1.0, timeout: float = 3600,
           at: dict | None = None) -> Iterator[RunEvent | str]:
    """Yield the run's progress until it ends, through Dagster's automatic retry if it gets one
    (run_retries in dagster.yaml); the last item is the final status. `at` (run id and event cursor,
    kept up to date) resumes where an interrupted follow() stopped: no event is shown twice."""
    at = at if at is not None else {}
    at.setdefault("run_id", run_id)
    deadline = time.monotonic() + timeout
    while True:
        run_id = at["run_id"]
        data = graphql(queries.RUN_EVENTS, {"runId": run_id, "after": at.get("cursor")})
        run = expect(data["runOrError"], "Run", f"run {run_id}")
        logs = expect(data["logsForRun"], "EventConnection", f"events of run {run_id}")
        for index, event in enumerate(logs["events"]):
            if index < at.get("shown", 0):  # shown before an interruption
                continue
            at["shown"] = index + 1
            mapped = _from_graphql_event(event)
            if mapped:
                yield mapped
        at.update(cursor=logs["cursor"], shown=0)
        if run["status"] in TERMINAL and not logs["hasMore"]:
            if run["status"] == "FAILURE" and _will_retry(graphql, run_id, run["tags"]):
                at.update(run_id=_retry_of(graphql, run_id, poll_seconds), cursor=None)
                yield RunEvent("retry", at["run_id"], "the run failed outside its steps; Dagster retries it once")
                continue
            yield run["status"]
            return
        if time.monotonic() > deadline:
            raise ClawdataError(f"run {run_id} did not finish within {timeout:.0f} s (status {run['status']})")
        if not logs["hasMore"]:
            time.sleep(poll_seconds)


def step_failures(graphql: HttpGraphQL, run_id: str) -> dict[str, str]:
    """Why each step of a finished run failed, as `materialize` said it while following the run."""
    failures, after = {}, None
    while True:
        logs = expect(graphql(queries.RUN_EVENTS, {"runId": run_id, "after": after})["logsForRun"],
                      "EventConnection", f"events of run {run_id}")
        for event in logs["events"]:
            if event["__typename"] == "ExecutionStepFailureEvent" and (mapped := _from_graphql_event(event)):
                failures[mapped.name] = mapped.detail
        if not logs["hasMore"]:
            return failures
        after = logs["cursor"]


def follow_canceling_on_interrupt(graphql: HttpGraphQL, run_id: str) -> Iterator[RunEvent | str]:
    """follow(), and on Ctrl-C ask the deployment to terminate the run, then follow it to its end
    (CANCELED). A second Ctrl-C stops waiting; the run's termination goes on."""
    at: dict = {}
    try:
        yield from follow(graphql, run_id, at=at)
    except KeyboardInterrupt:
        run_id = at.get("run_id", run_id)  # (the retry, if Dagster had started one)
        result = graphql(queries.TERMINATE_RUN, {"runId": run_id})["terminateRun"]
        expect(result, "TerminateRunSuccess", f"canceling run {run_id}")
        yield RunEvent("canceling", run_id, "Ctrl-C: the run is being canceled")
        yield from follow(graphql, run_id, at=at)


def _will_retry(graphql: HttpGraphQL, run_id: str, tags: list[dict]) -> bool:
    """Whether Dagster retries this failed run, waiting out the gap before its will_retry tag."""
    deadline = time.monotonic() + RETRY_TAG_GRACE_SECONDS
    while True:
        decision = {t["key"]: t["value"] for t in tags}.get(WILL_RETRY_TAG)
        if decision is not None or time.monotonic() > deadline:
            return decision == "true"
        time.sleep(0.2)
        tags = expect(graphql(queries.RUN_TAGS, {"runId": run_id})["runOrError"], "Run", f"run {run_id}")["tags"]


def _retry_of(graphql: HttpGraphQL, run_id: str, poll_seconds: float, timeout: float = 300) -> str:
    """The run the daemon launches to retry run_id (it does so within seconds of the failure)."""
    deadline = time.monotonic() + timeout
    while True:
        found = graphql(queries.RUNS_WITH_TAGS, {"tags": [{"key": PARENT_RUN_ID_TAG, "value": run_id}]})
        if found["runsOrError"]["results"]:
            return found["runsOrError"]["results"][0]["runId"]
        if time.monotonic() > deadline:
            raise ClawdataError(f"run {run_id} failed and is marked for retry, but no retry started within "
                                f"{timeout:.0f} s: is the daemon running (`make ps`)?")
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
        failure = event.get("failureMetadata") or {}
        failed = next((m.get("intValue") for m in failure.get("metadataEntries") or [] if m["label"] == FAILED_METADATA), None)
        return RunEvent("step_failure", event["stepKey"], failure_text(failure.get("description"), causes), ok=False,
                        failed=failed or 1)
    if kind == "MaterializationEvent":
        entries = {m["label"]: m for m in event["metadataEntries"]}
        rows = entries.get("dagster/row_count", {}).get("intValue")
        reused = entries.get("reused", {}).get("boolValue", False)
        read = entries.get("rows_read", {}).get("intValue")
        return RunEvent("materialized", "/".join(event["assetKey"]["path"]), rows_detail(rows, reused, read), reused=reused)
    if kind == "AssetCheckEvaluationPlannedEvent":  # named as a result is (below)
        return RunEvent("check_planned", f"{'/'.join((event.get('checkedKey') or {}).get('path') or [])}:{event.get('checkName') or ''}")
    if kind == "AssetMaterializationPlannedEvent" and event.get("assetKey"):
        return RunEvent("planned", "/".join(event["assetKey"]["path"]), event.get("stepKey") or "")
    if kind == "AssetCheckEvaluationEvent":
        evaluation = event["evaluation"]
        name = f"{'/'.join(evaluation['assetKey']['path'])}:{evaluation['checkName']}"
        entries = {e["label"]: e for e in evaluation.get("metadataEntries") or []}
        failed, kept = entries.get(FAILED_ROWS, {}).get("intValue"), entries.get("reused", {}).get("boolValue", False)
        return RunEvent("check", name, check_detail(evaluation.get("description"), failed, evaluation["success"], kept),
                        ok=evaluation["success"], severity=evaluation.get("severity") or "ERROR")
    if kind == "RunFailureEvent":
        return RunEvent("run_failure", "run", (event.get("error") or {}).get("message") or event["message"], ok=False)
    if kind == "EngineEvent" and event.get("level") == "ERROR" and event.get("error"):
        # Why a run failed before any step: its launch (a variable the daemon lacks, the image), its container
        return RunEvent("run_failure", "run", f"{event['message'].rstrip('.')}: {event['error']['message'].strip()}", ok=False)
    if kind == "ObservationEvent":  # a dbt node the gold step did not build, and why (as local.describe_event)
        why = next((m.get("text") for m in event.get("metadataEntries", []) if m["label"] == NOT_BUILT_METADATA), None)
        return RunEvent("not_built", "/".join(event["assetKey"]["path"]), why, ok=False) if why else None
    if kind == "LogMessageEvent" and event.get("level") == "WARNING":  # as local.is_warning
        return RunEvent("warning", event.get("stepKey") or "run", event["message"], ok=False)
    return None
