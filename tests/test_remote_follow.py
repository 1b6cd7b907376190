"""How `clawdata dagster materialize` follows a run on a deployment through Dagster's retry.

The stack tests kill real run containers; what they cannot make happen on demand is a poll landing
between Dagster's two writes for a failed run (the FAILURE status, then the will_retry tag). Here a
scripted webserver answers in exactly that order.
"""

from clawdata.cli import queries, remote
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
