"""Reading runs from a stack's GraphQL API, for the stack tests."""

import time

RUNS = """
query Runs($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    ... on Runs { results { runId status jobName creationTime startTime endTime tags { key value } } }
  }
}
"""

RUN_EVENTS = """
query Events($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) { ... on EventConnection { events { __typename ... on MessageEvent { message } } } }
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
    events = graphql(RUN_EVENTS, {"runId": run_id})["logsForRun"]["events"]
    return [e.get("message") or "" for e in events]
