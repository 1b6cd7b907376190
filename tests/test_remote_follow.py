"""How `clawdata dagster materialize` follows a run on a deployment through Dagster's retry.

The stack tests kill real run containers; what they cannot make happen on demand is a poll landing
between Dagster's two writes for a failed run (the FAILURE status, then the will_retry tag). Here a
scripted webserver answers in exactly that order. And how a launch meets a code server that does not
answer yet (an HTTP server answering as Dagster's does; the stack's test_code_server_restarted does
it for real).
"""

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from rich.console import Console

from clawdata.cli import progress, queries, remote
from clawdata.cli.errors import ClawdataError
from clawdata.cli.graphql import HttpGraphQL
from clawdata.cli.progress import RunEvent


class ScriptedWebserver:
    """Answers RUN_EVENTS and RUN_TAGS for each run from a list of (status, tags) states, one per poll,
    the last one repeating; RUNS_WITH_TAGS finds `retry_id` as the retry of `run_id`."""

    def __init__(self, states: dict[str, list[tuple[str, dict[str, str]]]], retry_id: str | None = None):
        self.states, self.retry_id, self.polls = states, retry_id, {run_id: 0 for run_id in states}

    def __call__(self, query: str, variables: dict) -> dict:
        if query is queries.RUNS_WITH_TAGS:
            return {"runsOrError": {"results": [{"runId": self.retry_id, "status": "STARTED"}] if self.retry_id else []}}
        assert query in (queries.RUN_EVENTS, queries.RUN_TAGS)
        run_id = variables["runId"]
        script = self.states[run_id]
        status, tags = script[min(self.polls[run_id], len(script) - 1)]
        self.polls[run_id] += 1
        if query is queries.RUN_TAGS:
            return {"runOrError": {"__typename": "Run", "tags": [{"key": k, "value": v} for k, v in tags.items()]}}
        return {
            "runOrError": {"__typename": "Run", "status": status, "tags": [{"key": k, "value": v} for k, v in tags.items()]},
            "logsForRun": {"__typename": "EventConnection", "cursor": "c", "hasMore": False, "events": []},
        }


def follow(webserver: ScriptedWebserver, run_id: str) -> list:
    return list(remote.follow(webserver, run_id, poll_seconds=0.01))


def test_retry_followed_when_the_tag_comes_after_the_status():
    webserver = ScriptedWebserver({
        "first": [("STARTED", {}), ("FAILURE", {}), ("FAILURE", {remote.WILL_RETRY_TAG: "true"})],
        "retry": [("STARTED", {}), ("SUCCESS", {})],
    }, retry_id="retry")
    items = follow(webserver, "first")
    assert items[0] == RunEvent("retry", "retry", "the run failed outside its steps; Dagster retries it once")
    assert items[-1] == "SUCCESS"


def test_failure_not_retried_ends_at_once():
    webserver = ScriptedWebserver({"first": [("FAILURE", {remote.WILL_RETRY_TAG: "false"})]})
    assert follow(webserver, "first") == ["FAILURE"]
    assert webserver.polls["first"] == 1


def test_failure_without_run_retries_ends_after_the_grace(monkeypatch):
    monkeypatch.setattr(remote, "RETRY_TAG_GRACE_SECONDS", 0.1)
    webserver = ScriptedWebserver({"first": [("FAILURE", {})]})
    assert follow(webserver, "first") == ["FAILURE"]
    assert webserver.polls["first"] > 1


# ---- a code server that does not answer yet --------------------------------------------------------

class RestartingWebserver(BaseHTTPRequestHandler):
    """Answers launchRun as Dagster's webserver does while the code server restarts (both seen on the
    stack, just after `docker compose restart user_code`): an InvalidSubsetError, or HTTP 500 with a
    PythonError, saying DagsterUserCodeUnreachableError, `failures` times; then the run."""

    failures = 2
    launches = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).launches += 1
        if type(self).launches <= self.failures:
            status, typename = (200, "InvalidSubsetError") if type(self).launches % 2 else (500, "PythonError")
            result = {"__typename": typename, "message": "dagster._core.errors.DagsterUserCodeUnreachableError: "
                                                         "Could not reach user code server. gRPC Error code: UNAVAILABLE\n"}
        else:
            status, result = 200, {"__typename": "LaunchRunSuccess", "run": {"runId": "run-1"}}
        self.answer(status, {"data": {"launchRun": result}})

    def answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def restarting_webserver():
    RestartingWebserver.launches = 0
    server = HTTPServer(("127.0.0.1", 0), RestartingWebserver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield HttpGraphQL(f"http://127.0.0.1:{server.server_port}")
    server.shutdown()


def test_a_launch_waits_for_a_restarting_code_server(restarting_webserver, monkeypatch):
    monkeypatch.setattr(remote, "errors", Console(file=io.StringIO()))
    run_id = remote.when_code_server_answers(lambda: remote.launch(restarting_webserver, "job", None, {}), poll_seconds=0.01)
    assert run_id == "run-1" and RestartingWebserver.launches == 3
    said = remote.errors.file.getvalue()
    assert said.count("does not answer") == 1 and "waiting" in said, said  # said once, not per attempt


def test_a_code_server_that_never_answers_is_one_clear_error(restarting_webserver, monkeypatch):
    monkeypatch.setattr(RestartingWebserver, "failures", 10**6)
    with pytest.raises(ClawdataError) as error:
        remote.when_code_server_answers(lambda: remote.launch(restarting_webserver, "job", None, {}),
                                        wait_seconds=0.05, poll_seconds=0.01)
    message = str(error.value)
    assert "code server of 'clawdata' does not answer" in message and "docker compose logs user_code" in message
    assert "{" not in message and "HTTP 500" not in message  # no raw JSON answer


def test_another_error_answered_with_http_500_is_named_not_dumped(restarting_webserver, monkeypatch):
    def python_error(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"data": {"launchRun": {"__typename": "PythonError", "message": "KeyError: 'x'"}}}).encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    monkeypatch.setattr(RestartingWebserver, "do_POST", python_error)
    with pytest.raises(ClawdataError, match=r"^launching the run failed: KeyError: 'x'$"):
        remote.when_code_server_answers(lambda: remote.launch(restarting_webserver, "job", None, {}), wait_seconds=0)


def test_ctrl_c_cancels_and_follows_on_without_showing_an_event_twice():
    """Ctrl-C while following: the run is terminated and followed to its end from where the terminal
    had got to (the summary counts each materialization once)."""
    steps = [{"__typename": "ExecutionStepStartEvent", "stepKey": f"raw_{n}"} for n in ("a", "b", "c")]
    pages = {None: (steps[:2], "c2"), "c2": (steps[2:], "c3"), "c3": ([], "c3")}
    polls, terminated = [], []

    def webserver(query: str, variables: dict) -> dict:
        if query is queries.TERMINATE_RUN:
            terminated.append(variables["runId"])
            return {"terminateRun": {"__typename": "TerminateRunSuccess"}}
        polls.append(variables["after"])
        if len(polls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second poll
        events, cursor = pages[variables["after"]]
        status = "CANCELED" if terminated and cursor == "c3" else "STARTED"
        return {"runOrError": {"__typename": "Run", "status": status, "tags": []},
                "logsForRun": {"__typename": "EventConnection", "cursor": cursor, "hasMore": False, "events": events}}

    items = list(remote.follow_canceling_on_interrupt(webserver, "run-1"))
    started = [i.name for i in items if isinstance(i, RunEvent) and i.kind == "step_start"]
    assert started == ["raw_a", "raw_b", "raw_c"] and terminated == ["run-1"] and items[-1] == "CANCELED", items


def test_a_run_failed_by_a_step_says_the_cause_once(monkeypatch):
    """Against the stack, a failed run printed its step's error twice: once for the step, then again
    as `✗ run: dagster._core.definitions.events.Failure: ...` (the run's failure event repeats the
    step's error). A run that fails outside its steps still says why."""
    from clawdata.cli import progress

    cause = "dbt build: model orders (models/orders.sql): Binder Error: no column x"
    step = {"__typename": "ExecutionStepFailureEvent", "stepKey": "gold_models", "failureMetadata": {"description": cause},
            "error": {"message": f"dagster._core.definitions.events.Failure: {cause}", "cause": None}}
    run_failed = {"__typename": "RunFailureEvent", "message": "Execution of run failed.",
                  "error": {"message": f"dagster._core.definitions.events.Failure: {cause}"}}
    for events, said in (([step, run_failed], 1), ([run_failed], 1)):
        def webserver(query: str, variables: dict, events=events) -> dict:
            if query is queries.RUN_TAGS:
                return {"runOrError": {"__typename": "Run", "tags": [{"key": remote.WILL_RETRY_TAG, "value": "false"}]}}
            return {"runOrError": {"__typename": "Run", "status": "FAILURE", "tags": [{"key": remote.WILL_RETRY_TAG, "value": "false"}]},
                    "logsForRun": {"__typename": "EventConnection", "cursor": "c", "hasMore": False, "events": events}}

        printed = io.StringIO()
        monkeypatch.setattr(progress.console, "file", printed)
        status, _ = progress.report(remote.follow(webserver, "run-1", poll_seconds=0.01))
        assert status == "FAILURE" and printed.getvalue().count(cause) == said, printed.getvalue()

    # A run that failed at its launch said only "marked as failed from outside the execution context":
    # the daemon's error (a variable it lacks) was in `clawdata dagster logs` alone.
    missing = "Exception: Tried to load environment variable CLAWDATA_SOURCE_X_PASSWORD, but it was not set"
    launch = {"__typename": "EngineEvent", "level": "ERROR", "message": "Caught an unrecoverable error while dequeuing "
              "the run. Marking the run as failed and dropping it from the queue", "error": {"message": missing + "\n"}}
    outside = {"__typename": "RunFailureEvent", "message": "This run has been marked as failed from outside the execution context.",
               "error": None}

    def launch_failed(query: str, variables: dict) -> dict:
        if query is queries.RUN_TAGS:
            return {"runOrError": {"__typename": "Run", "tags": [{"key": remote.WILL_RETRY_TAG, "value": "false"}]}}
        return {"runOrError": {"__typename": "Run", "status": "FAILURE", "tags": [{"key": remote.WILL_RETRY_TAG, "value": "false"}]},
                "logsForRun": {"__typename": "EventConnection", "cursor": "c", "hasMore": False, "events": [launch, outside]}}

    printed = io.StringIO()
    monkeypatch.setattr(progress.console, "file", printed)
    progress.report(remote.follow(launch_failed, "run-1", poll_seconds=0.01))
    assert missing in printed.getvalue() and "outside the execution context" not in printed.getvalue(), printed.getvalue()


def test_every_document_the_cli_sends_is_valid_against_dagsters_schema():
    """The CLI's GraphQL documents (cli/queries.py) against the schema of the installed
    dagster-graphql: a field an upgrade renames fails here, not in a user's command."""
    import re

    from dagster_graphql.schema import create_schema
    from graphql import parse, validate

    schema = create_schema().graphql_schema
    documents = {name: text for name, text in vars(queries).items()
                 if isinstance(text, str) and re.search(r"^\s*(query|mutation) \w+", text, re.M)}
    assert {"RUN_EVENTS", "RUN_LOGS", "LAUNCH_RUN", "STATUS"} <= set(documents), sorted(documents)
    for name, text in documents.items():
        assert validate(schema, parse(text)) == [], name


def test_status_shows_long_asset_keys_and_check_names_whole(monkeypatch):
    """A package's models (`dbt_expectations_integration_tests/timeseries_data_extended`) were cut to
    `dbt_expectations_integration_tests/timeseries…`, one like the other, and so were the names of
    their failed checks: folded onto the next line instead, whole."""
    from clawdata.cli import progress, status

    key = ["dbt_expectations_integration_tests", "timeseries_data_extended"]
    check = "dbt_expectations_expect_column_values_to_be_within_n_moving_stdevs_timeseries_data_row_value"
    node = {"assetKey": {"path": key}, "groupName": "gold", "assetMaterializations": [], "assetObservations": [],
            "assetChecksOrError": {"checks": [{"name": check, "executionForLatestMaterialization":
                                               {"status": "FAILED", "evaluation": {"severity": "WARN"}}}]}}
    data = {"assetNodes": [node], "runsOrError": {"__typename": "Runs", "results": []},
            "repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": []},
            "instance": {"daemonHealth": {"allDaemonStatuses": []}}}

    class Target:
        where = "test"

        def status_data(self, run_limit):
            return data

    printed = io.StringIO()
    monkeypatch.setattr(progress.console, "file", printed)
    monkeypatch.setattr(progress.console, "_width", 100)
    status.status(Target())
    rows = [line.split("│") for line in printed.getvalue().splitlines() if line.count("│") == 7][:6]
    column = lambda i: "".join(cells[i].strip() for cells in rows)  # noqa: E731 (a column's folded lines, joined)
    assert "…" not in printed.getvalue() and column(1) == "/".join(key), printed.getvalue()
    assert column(5).endswith(check), printed.getvalue()


def test_a_models_name_alone_suggests_its_key_in_its_schema():
    """`materialize my_model2` (as `dbt build -s my_model2` takes it) suggested an unrelated `my_seed`,
    not the model's key `dbt_expectations_integration_tests/my_model2`."""
    from clawdata.cli.materialize import check_names

    known = ["my_seed", "dbt_expectations_integration_tests/my_model2", "dbt_expectations_integration_tests/data_test"]
    with pytest.raises(ClawdataError, match=r"unknown asset 'my_model2'; did you mean: dbt_expectations_integration_tests/my_model2"):
        check_names(("my_model2",), known)


def test_a_model_not_built_is_said_from_the_deployments_events_as_locally():
    event = {"__typename": "ObservationEvent", "assetKey": {"path": ["marts", "orders"]},
             "metadataEntries": [{"label": "clawdata/not_built", "text": "upstream failed"}, {"label": "other"}]}
    assert remote._from_graphql_event(event) == RunEvent("not_built", "marts/orders", "upstream failed", ok=False)
    assert remote._from_graphql_event({**event, "metadataEntries": []}) is None


def test_the_dbt_nodes_a_step_failed_on_are_counted_from_the_deployments_events_as_locally():
    event = {"__typename": "ExecutionStepFailureEvent", "stepKey": "gold_models", "error": {"message": "Failure"},
             "failureMetadata": {"description": "dbt build: model a ...; model b ...",
                                 "metadataEntries": [{"label": "clawdata/failed", "intValue": 2}]}}
    assert remote._from_graphql_event(event).failed == 2
    assert remote._from_graphql_event({**event, "failureMetadata": {"description": "x"}}).failed == 1


class CodeServerDown(RestartingWebserver):
    """A webserver whose code server does not answer: the workspace says so; the instance answers."""

    def do_POST(self):
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["query"]
        if "StatusRecords" in query:
            data = {"runsOrError": {"__typename": "Runs", "results": [
                        {"runId": "abcdef0123", "status": "SUCCESS", "jobName": "materialize_all", "startTime": 1.0e9,
                         "endTime": 1.0e9 + 61, "tags": []}]},
                    "instance": {"daemonHealth": {"allDaemonStatuses": [{"daemonType": "SENSOR", "healthy": True, "required": True,
                                                                          "lastHeartbeatTime": time.time()}]}}}
        else:
            data = {"workspaceOrError": {"__typename": "PythonError", "message":
                    "dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server"}}
        self.answer(200, {"data": data})


def test_status_with_the_code_server_down_shows_the_runs_and_the_daemon(monkeypatch):
    """`docker compose kill user_code`: `make status` waited 90 s and showed nothing, though the runs
    and the daemon's health are the instance's."""
    from clawdata.cli import progress, status
    from clawdata.cli.target import RemoteTarget

    server = HTTPServer(("127.0.0.1", 0), CodeServerDown)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(remote, "STATUS_WAIT_SECONDS", 0.05)
    monkeypatch.setattr(remote, "errors", Console(file=io.StringIO()))
    printed = io.StringIO()
    monkeypatch.setattr(progress.console, "file", printed)
    monkeypatch.setattr(progress.console, "_width", 200)
    try:
        status.status(RemoteTarget(f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
    text = printed.getvalue()
    assert "assets, checks, schedules and sensors unknown" in text and "does not answer" in text, text
    assert "abcdef01" in text and "SUCCESS" in text and "daemon: healthy (SENSOR)" in text, text


def test_a_planned_check_is_named_as_its_result_is():
    """What a failure left unchecked is the planned checks without a result: both named alike."""
    planned = remote._from_graphql_event({"__typename": "AssetCheckEvaluationPlannedEvent",
                                          "checkedKey": {"path": ["slv_orders"]}, "checkName": "not_null_x"})
    result = remote._from_graphql_event({"__typename": "AssetCheckEvaluationEvent", "evaluation": {
        "checkName": "not_null_x", "success": True, "severity": "ERROR", "assetKey": {"path": ["slv_orders"]}}})
    assert planned.kind == "check_planned" and planned.name == result.name == "slv_orders:not_null_x"
    # A dbt test's warning says its failing rows, as the local CLI's does (the query asks for them).
    warned = remote._from_graphql_event({"__typename": "AssetCheckEvaluationEvent", "evaluation": {
        "checkName": "not_null_x", "success": False, "severity": "WARN", "assetKey": {"path": ["slv_orders"]},
        "description": None, "metadataEntries": [{"label": "dagster_dbt/failed_row_count", "intValue": 6}]}})
    assert warned.detail == "6 failing rows" and warned.severity == "WARN"
    kept = remote._from_graphql_event({"__typename": "AssetCheckEvaluationEvent", "evaluation": {
        "checkName": "not_null_x", "success": False, "severity": "WARN", "assetKey": {"path": ["slv_orders"]},
        "description": None, "metadataEntries": [{"label": "dagster_dbt/failed_row_count", "intValue": 6},
                                                 {"label": "reused", "boolValue": True}]}})
    assert kept.detail == "6 failing rows (kept: not run again, its inputs unchanged)"


def test_a_sensor_tick_waits_for_a_code_server_the_webserver_still_lists(monkeypatch):
    """`docker compose up -d --build user_code`, then `sensor tick` at once: the webserver still listed
    the location loaded, the evaluation failed with "Could not reach user code server" and a gRPC
    dump. It waits for it, as every other command does."""
    from clawdata.cli import sensor
    from clawdata.cli.target import RemoteTarget

    down = {"error": {"message": "dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server",
                      "causes": [{"message": "grpc._channel._InactiveRpcError: ... Connection refused"}]},
            "runRequests": [], "skipReason": None, "cursor": None}
    answers = iter([down, down, {"error": None, "runRequests": [], "skipReason": "no new or changed files", "cursor": None}])

    def graphql(query, variables=None):
        if query == queries.SENSOR:
            return {"sensorOrError": {"__typename": "Sensor", "sensorType": "STANDARD", "targets": [],
                                      "sensorState": {"typeSpecificData": {"lastCursor": None}}}}
        if query == queries.SENSOR_DRY_RUN:
            return {"sensorDryRun": {"__typename": "DryRunInstigationTick", "evaluationResult": next(answers)}}
        raise AssertionError(query)

    target = RemoteTarget("http://127.0.0.1:9")
    target.graphql = graphql
    monkeypatch.setattr(RemoteTarget, "check_location", lambda self: None)
    monkeypatch.setattr(remote, "errors", Console(file=io.StringIO()))
    monkeypatch.setattr(remote.time, "sleep", lambda seconds: None)
    printed = io.StringIO()
    monkeypatch.setattr(sensor.console, "file", printed)
    sensor.tick(target, "inbox_sensor")
    assert "skipped: no new or changed files" in printed.getvalue(), printed.getvalue()


def test_a_failures_hint_names_what_works_where_the_user_is(monkeypatch):
    """`make materialize` runs the CLI in a one-off container whose --url names the webserver inside
    the stack's network: its hints name the make target, and the run's page the UI's own address."""
    from clawdata.cli.target import VIA_MAKE_ENV, RemoteTarget

    monkeypatch.delenv(VIA_MAKE_ENV, raising=False)
    monkeypatch.delenv("CLAWDATA_UI_URL", raising=False)
    target = RemoteTarget("http://webserver:3000")
    assert target.logs_command("0123456789abcdef", "gold_models") == "clawdata dagster --url http://webserver:3000 logs 01234567 gold_models"
    assert target.run_page("0123-run") == "http://webserver:3000/runs/0123-run"
    monkeypatch.setenv(VIA_MAKE_ENV, "1")
    monkeypatch.setenv("CLAWDATA_UI_URL", "http://127.0.0.1:3111/")
    assert target.logs_command("0123456789abcdef") == "make run-logs RUN=01234567"
    assert target.logs_command("0123456789abcdef", "gold_models") == "make run-logs RUN=01234567 STEP=gold_models"
    assert target.run_page("0123-run") == "http://127.0.0.1:3111/runs/0123-run"


def test_a_url_typed_without_its_scheme_is_http():
    """`CLAWDATA_DAGSTER_URL=localhost:3000` failed as `InvalidSchema`, read as "is the stack up?"."""
    assert HttpGraphQL("localhost:3000/").where == "http://localhost:3000"
    assert HttpGraphQL("https://dagster.example.org").where == "https://dagster.example.org"


def test_what_a_run_or_an_error_says_is_printed_as_text_not_markup(monkeypatch, capsys):
    """dbt's parse error quotes the YAML line (`data_tests: [not_null`): Rich took everything from `[`
    to the next `]` for a style and dropped it, the line to fix with it."""
    from click.testing import CliRunner

    from clawdata.cli import main as cli_main

    said = "dbt build: model m (models/m.yml)\n  6 | data_tests: [not_null\n  Raw Error: did not find expected ',' or ']'"
    shown = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=shown, width=200))
    progress.show(RunEvent("step_failure", "gold_models", said, ok=False))
    assert "data_tests: [not_null" in shown.getvalue() and "or ']'" in shown.getvalue(), shown.getvalue()

    def fail():
        raise ClawdataError(f"the code location 'clawdata' failed to load:\n{said}")
    monkeypatch.setattr(cli_main, "errors", Console(file=shown, width=200))
    shown.truncate(0)
    group = cli_main.FriendlyGroup(name="g", commands=[cli_main.click.Command("x", callback=fail)])
    result = CliRunner().invoke(group, ["x"])
    assert result.exit_code == 1 and "data_tests: [not_null" in shown.getvalue() and "or ']'" in shown.getvalue(), shown.getvalue()
