"""`clawdata dagster logs RUN [STEP]`: a run's events, then the stdout/stderr its steps printed.

Both come from Dagster's GraphQL API (`logsForRun`, `capturedLogs`), so the local instance and a
deployment read the same way, and what the CLI shows is what the UI's run page shows. Errors are
printed whole here, stack traces included: `materialize` shows one line per failure and points here.
"""

import re
from datetime import datetime, timezone

from clawdata.cli import queries
from clawdata.cli.errors import USAGE_ERROR, ClawdataError
from clawdata.cli.graphql import GraphQL, expect
from clawdata.cli.progress import console


def resolve_run_id(graphql: GraphQL, run: str) -> str:
    """A full run id, or the unique run whose id starts with `run` (status shows 8 characters)."""
    if len(run) == 36:
        return run
    ids = [r["runId"] for r in graphql(queries.RECENT_RUN_IDS, {"limit": 1000})["runsOrError"]["results"]]
    matches = [i for i in ids if i.startswith(run)]
    if len(matches) != 1:
        raise ClawdataError(f"no run id starts with '{run}'" if not matches else f"'{run}' matches {len(matches)} runs",
                            exit_code=USAGE_ERROR)
    return matches[0]


def run_logs(graphql: GraphQL, run_id: str) -> tuple[dict, list[dict]]:
    events, cursor = [], None
    while True:
        data = graphql(queries.RUN_LOGS, {"runId": run_id, "after": cursor})
        run = expect(data["runOrError"], "Run", f"run {run_id}")
        logs = expect(data["logsForRun"], "EventConnection", f"events of run {run_id}")
        events += logs["events"]
        cursor = logs["cursor"]
        if not logs["hasMore"]:
            return run, events


def captured(graphql: GraphQL, log_key: list[str]) -> tuple[str, str]:
    """The whole stdout and stderr stored under a log key (read in pages)."""
    out, err, cursor = [], [], None
    while True:
        data = graphql(queries.CAPTURED_LOGS, {"logKey": log_key, "cursor": cursor})["capturedLogs"]
        if not (data["stdout"] or data["stderr"]) or data["cursor"] == cursor:
            return "".join(out), "".join(err)
        out.append(data["stdout"] or "")
        err.append(data["stderr"] or "")
        cursor = data["cursor"]


def _clock(timestamp: str) -> str:
    return datetime.fromtimestamp(float(timestamp) / 1000, timezone.utc).strftime("%H:%M:%S")


def _error_text(event: dict) -> str:
    error = event.get("error")
    if not error:
        return ""
    chain = [error] + [link["error"] for link in error.get("errorChain") or []]
    return "".join(f"\n{e['message'].rstrip()}\n{''.join(e.get('stack') or []).rstrip()}" for e in chain).rstrip()


def show_logs(graphql: GraphQL, run: str, step: str | None) -> None:
    run_id = resolve_run_id(graphql, run)
    info, events = run_logs(graphql, run_id)
    steps = sorted({e["stepKey"] for e in events if e.get("stepKey")})
    if step and step not in steps:
        raise ClawdataError(f"run {run_id[:8]} has no step '{step}'; its steps: {', '.join(steps) or 'none'}",
                            exit_code=USAGE_ERROR)
    console.print(f"run [bold]{run_id}[/] ({info['jobName']}): {info['status']}")
    shown_errors: set[str] = set()
    planned: list[dict] = []  # a run of "...Planned" events: one line for them all

    def flush_planned() -> None:
        if planned:
            kind = planned[0]["__typename"].removesuffix("Event")
            what = "checks" if "Check" in kind else "materializations"
            steps = {e.get("stepKey") for e in planned}
            _raw(f"{_clock(planned[0]['timestamp'])} {(steps.pop() if len(steps) == 1 else None) or '-':<14} {kind:<24} "
                 + (planned[0]["message"] if len(planned) == 1 else f"{len(planned)} {what} planned"))
            planned.clear()

    for event in events:
        if step and event.get("stepKey") not in (step, None):
            continue
        kind = event["__typename"].removesuffix("Event")
        if planned and planned[0]["__typename"] != event["__typename"]:
            flush_planned()
        if kind.endswith("Planned"):
            planned.append(event)
            continue
        description = (event.get("failureMetadata") or {}).get("description")
        text = event["message"] + (f"\n{description}" if description and description not in event["message"] else "")
        error = _error_text(event)
        shown = "\n(its error and stack trace: as above)" if error in shown_errors else error  # the run's failure repeats its step's
        if error:
            shown_errors.add(error)
        _raw(f"{_clock(event['timestamp'])} {event.get('stepKey') or '-':<14} {kind:<24} {text}{shown}")
    flush_planned()

    captures = [e for e in events if e["__typename"] == "LogsCapturedEvent" and (not step or step in (e["stepKeys"] or []))]
    if not captures:
        console.print("no captured stdout/stderr for this run" + (f"'s step {step}" if step else ""))
    for capture in captures:
        # One file per process: a run's steps share one when they run in one process (in_process_executor).
        stdout, stderr = captured(graphql, [run_id, "compute_logs", capture["fileKey"]])
        covers = ", ".join(capture["stepKeys"] or [])
        for name, text in (("stdout", stdout), ("stderr", stderr)):
            console.rule(f"{name} ({covers})", align="left")
            _raw(text.rstrip() or "(empty)")


def _raw(text: str) -> None:
    """As printed by the run: no markup, no wrapping; dbt's colour codes only on a colour terminal."""
    if console.no_color or not console.is_terminal:
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    console.file.write(text + "\n")
