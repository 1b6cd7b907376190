"""`clawdata dagster status`: assets, checks, recent runs, automation and daemons, from Dagster's
records (never the warehouse file, which a run may hold)."""

import time
from datetime import datetime, timezone

from rich.markup import escape
from rich.table import Table

from clawdata.cli.graphql import expect
from clawdata.cli.progress import console
from clawdata.cli.target import Target
from clawdata.listing import few
from clawdata.settings import CANCELED_BY_TAG, NOT_BUILT_METADATA, RESTORE_NOTE, RESTORED_FROM, UPSTREAM_FAILED



def _trigger(tags: dict[str, str]) -> str:
    """Who started a run, from Dagster's tags and the CLI's own, in words."""
    how = [f"{label} {tags[key][:n]}" for key, label, n in (
        ("dagster/schedule_name", "schedule", 99), ("dagster/sensor_name", "sensor", 99),
        ("dagster/backfill", "backfill", 8), ("dagster/parent_run_id", "retry of", 8)) if key in tags]
    if "clawdata/launched_by" in tags:
        how.append(f"via {tags['clawdata/launched_by']}")
    return ", ".join(how) or "-"


def _last_tick(ticks: list[dict]) -> str:
    if not ticks:
        return "-"
    tick = ticks[0]
    reason = tick["skipReason"] or ((tick["error"] or {}).get("message") or "").splitlines()[:1]
    return f"{tick['status']} {_when(tick['timestamp'])}" + (f" ({escape(''.join(reason))})" if reason else "")


def _seconds(timestamp) -> float:
    return float(timestamp) / (1000 if float(timestamp) > 1e11 else 1)  # GraphQL mixes ms and s


def _when(timestamp) -> str:
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(_seconds(timestamp), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _checks(node: dict) -> str:
    """Checks on the asset's latest materialization: failed (named), warned (named), skipped, passed."""
    checks = node["assetChecksOrError"].get("checks") or []
    if not checks:
        return "-"
    by_state: dict[str, list[str]] = {}
    for check in checks:
        execution = check["executionForLatestMaterialization"] or {}
        severity = (execution.get("evaluation") or {}).get("severity")
        state = {
            "SUCCEEDED": "passed", "FAILED": "warned" if severity == "WARN" else "failed",
            # not executed: a dbt test skipped because what it tests failed, or a run that stopped early
            # planned by a run not finished: going, or still queued (then nothing runs them yet)
            "EXECUTION_FAILED": "skipped", "SKIPPED": "skipped", "IN_PROGRESS": "pending",
        }.get(execution.get("status"), "not run")
        by_state.setdefault(state, []).append(check["name"])
    parts = []
    for state, colour in (("failed", "red"), ("warned", "yellow"), ("skipped", "yellow"), ("pending", "yellow")):
        names = sorted(by_state.get(state, []))
        if names:
            parts.append(f"[{colour}]{len(names)} {state}[/]" + (f": {', '.join(names)}" if state in ("failed", "warned") else ""))
    passed = len(by_state.get("passed", []))
    not_run = len(by_state.get("not run", []))
    return ", ".join([f"{passed}/{len(checks)} passed", *parts] + ([f"{not_run} not run"] if not_run else []))


def _rows(node: dict, last: dict | None) -> int | None:
    """The row count of the latest materialization, or of a later observation (gold's)."""
    def count(event):
        return next((m["intValue"] for m in (event or {}).get("metadataEntries", []) if m["label"] == "dagster/row_count"), None)

    observed = (node.get("assetObservations") or [None])[0]
    if observed and last and float(observed["timestamp"]) >= float(last["timestamp"]) and count(observed) is not None:
        return count(observed)
    return count(last)


def _not_built(node: dict, last: dict | None) -> tuple[str, str, str] | None:
    """Why the asset's latest attempt, a failed or canceled run, left it unbuilt, as (kind, text, run):
    "upstream" when something it reads failed in that run, "own" for dbt's own reason (its unit test,
    a test it sits behind), "ended" when the run ended before its step started with no step failed,
    "failed" when its build failed (or its run was canceled). None when that run built it, or none failed."""
    attempt = node.get("latestAttempt") or {}
    if not attempt.get("runId") or attempt.get("runId") == (last or {}).get("runId"):
        return None
    run = attempt["runId"][:8]
    steps = attempt.get("steps") or {}
    own = [steps.get(op) for op in node.get("opNames") or []]
    observed = (node.get("assetObservations") or [None])[0] or {}
    why = next((m.get("text") for m in observed.get("metadataEntries", []) if m["label"] == NOT_BUILT_METADATA), None)
    if why and observed.get("runId") == attempt["runId"]:  # its step ran, and dbt skipped it (or the replica did not publish)
        return ("upstream" if why == UPSTREAM_FAILED else "own"), f"[yellow]not built[/]: {why} (run {run})", run
    if attempt.get("status") not in ("FAILURE", "CANCELED"):
        return None
    if attempt["status"] == "FAILURE" and "FAILURE" in steps.values() and all(status in (None, "SKIPPED") for status in own):
        # Another step failed and its own never ran: it kept its table. (A step whose process
        # died stays IN_PROGRESS: that is its own failure.)
        return "upstream", f"[yellow]not built[/]: {UPSTREAM_FAILED} (run {run})", run
    if attempt["status"] == "FAILURE" and "FAILURE" not in steps.values() and all(status is None for status in own):
        # No step failed and its own never started: the run ended before it (its process killed, or
        # the run failed before any step). It kept its table; the run list says how the run ended.
        return "ended", f"[yellow]not built[/]: its run ended before it (run {run})", run
    return "failed", f"[red]last build {attempt['status'].lower()}[/] (run {run})", run


# Dagster's tags on a materialization: its data version, and the version of each input it read
# (tests/test_private_apis.py holds them to Dagster's own names).
DATA_VERSION_TAG = "dagster/data_version"
INPUT_DATA_VERSION_TAG = "dagster/input_data_version/{}"


def attempt_verdicts(nodes: list[dict]) -> dict[tuple[str, ...], tuple[str, str, str] | None]:
    """What each asset's latest attempt says of it (_not_built), an upstream failure judged against
    the graph. While something it reads, however far up, is failing still: that it was not built.
    Once that failure is mended (a later run built it): that it is behind what it reads, if something
    it read holds other data now (Dagster's data versions: a table rebuilt to the same rows is not
    news); else nothing (the usual verdict), since the skip lost nothing: a seed, or a model that does
    not read the failure, kept a table as current as before. (It was said for as long as no run
    planned the asset again: a seed's for days of successful runs.) "Behind" is of its own parents:
    what reads it says its own verdict."""
    keyed = {tuple(n["assetKey"]["path"]): n for n in nodes}
    parents = {key: [tuple(d["path"]) for d in n.get("dependencyKeys") or []] for key, n in keyed.items()}
    last = {key: (n["assetMaterializations"] or [None])[0] for key, n in keyed.items()}
    state = {key: _not_built(n, last[key]) for key, n in keyed.items()}
    # failing on its own: a failed build (a canceled run's says nothing of the code or the data)
    failing = {key for key, said in state.items()
               if said and said[0] in ("own", "failed") and keyed[key]["latestAttempt"]["status"] == "FAILURE"}
    ancestors: dict[tuple, set] = {}

    def above(key) -> set:
        if key not in ancestors:
            ancestors[key] = set()  # a cycle (an asset graph has none) ends here
            ancestors[key] = {a for p in parents.get(key, []) for a in (p, *above(p))}
        return ancestors[key]

    def tags(key) -> dict:
        return {t["key"]: t["value"] for t in (last.get(key) or {}).get("tags") or []}

    for key, said in state.items():
        if not said or said[0] not in ("upstream", "ended") or above(key) & failing:
            continue
        read = tags(key)
        # (a parent it has no record of reading is news too, as the inbox sensor counts it)
        changed = ["/".join(p) for p in parents[key] if last[key] and (now := tags(p).get(DATA_VERSION_TAG))
                   and read.get(INPUT_DATA_VERSION_TAG.format("/".join(p))) != now]
        state[key] = ("behind", f"[yellow]behind[/] {few(changed, 2)} (skipped by run {said[2]}, not built since)",
                      said[2]) if changed else None
    return state


def _freshness(node: dict, last: dict | None, failures: dict | None = None, verdicts: dict | None = None) -> str:
    """Fresh or late against the asset's freshness policy: the daemon's verdict, or (no daemon has
    judged yet, e.g. the embedded default) the same rule applied here: rebuilt within the window.
    A last attempt that failed (or was canceled) says so, whatever the table's age; one that skipped
    it for an upstream failure, as `verdicts` (attempt_verdicts, over the whole graph) says."""
    said = _not_built(node, last) if verdicts is None else verdicts.get(tuple(node["assetKey"]["path"]))
    if said:
        attempt = node["latestAttempt"]
        if said[0] == "failed":
            for op in node.get("opNames") or []:  # why, said under the table (the step's failure, as the run said it)
                if (why := (attempt.get("failures") or {}).get(op)) and failures is not None:
                    failures[(attempt["runId"], op)] = why
        return said[1]
    entries = {m["label"]: m for m in (last or {}).get("metadataEntries") or []}
    if RESTORED_FROM in entries and RESTORE_NOTE in entries:  # a restore's record of a table it lacked
        return f"[yellow]not in the backup[/] {entries[RESTORED_FROM].get('text', '')}: the next run rebuilds it"
    # Built by other code than it has now (an edit, a new image): the inbox sensor asks for it.
    # ("dagster/code_version": Dagster's tag on a materialization; tests/test_private_apis.py)
    built_by = next((t["value"] for t in (last or {}).get("tags") or [] if t["key"] == "dagster/code_version"), None)
    if node.get("opVersion") and built_by and built_by != node["opVersion"]:
        return "[yellow]code changed since built[/]"
    policy = node.get("internalFreshnessPolicy") or {}
    if "failWindowSeconds" not in policy:
        return "-"
    window = f"{policy['failWindowSeconds'] / 3600:g} h"
    if last is None:  # a model added since the last build: not late, never built (the next run builds it)
        return "[yellow]never built[/]"
    verdict = (node.get("freshnessStatusInfo") or {}).get("freshnessStatus")
    if verdict not in ("HEALTHY", "WARNING", "DEGRADED"):
        age = time.time() - _seconds(last["timestamp"]) if last else None
        verdict = "DEGRADED" if age is None or age > policy["failWindowSeconds"] else "HEALTHY"
    return {"HEALTHY": f"[green]fresh[/] (< {window})", "WARNING": f"[yellow]due[/] (< {window})",
            "DEGRADED": f"[red]late[/] (> {window})"}[verdict]


# A daemon heartbeats every 30 s; Dagster calls it healthy for 30 min more, so status said `healthy`
# that long after `dagster dev` stopped, while deliveries waited. 90 s more, as the stack's healthcheck.
DAEMON_SILENT_SECONDS = 30 + 90


def _daemon_alive(daemon: dict) -> bool:
    beat = daemon.get("lastHeartbeatTime")
    return bool(daemon["healthy"]) and beat is not None and time.time() - _seconds(beat) <= DAEMON_SILENT_SECONDS


def status(target: Target, run_limit: int = 10) -> None:
    data = target.status_data(run_limit)
    for said in data.get("released") or []:  # the local instance's runs whose process is gone
        console.print(f"[yellow]![/] {escape(said)}", soft_wrap=True)
    order = {"bronze": 0, "silver": 1, "gold": 2}

    assets = Table(title=f"Assets ({target.where})", title_justify="left")
    for column in ("asset", "group", "last materialization", "rows", "checks", "freshness"):
        # folded, never cut: long keys (a package's models) differ at their ends
        assets.add_column(column, justify="right" if column == "rows" else "left", overflow="fold")
    if data.get("unavailable"):
        console.print(f"[yellow]assets, checks, schedules and sensors unknown[/]: {data['unavailable']}", soft_wrap=True)
    failures: dict[tuple[str, str], str] = {}
    nodes = sorted(data["assetNodes"], key=lambda n: (order.get(n["groupName"], 9), "/".join(n["assetKey"]["path"])))
    verdicts = attempt_verdicts(nodes)
    for node in nodes:
        last = (node["assetMaterializations"] or [None])[0]
        rows = _rows(node, last)
        assets.add_row(
            escape("/".join(node["assetKey"]["path"])),
            node["groupName"] or "-",
            _when(last["timestamp"]) if last else "[yellow]never[/]",
            f"{rows:,}" if rows is not None else "-",
            _checks(node),
            _freshness(node, last, failures, verdicts),
        )
    if nodes:
        console.print(assets)
    for (run_id, step), why in failures.items():  # dbt's error may run over lines: its first ones
        lines = why.strip().splitlines()
        shown = "\n    ".join(escape(line) for line in lines[:6]) + ("\n    …" if len(lines) > 6 else "")
        console.print(f"[red]✗[/] {step} failed in run {run_id[:8]} (`{target.logs_command(run_id, step)}`): {shown}",
                      soft_wrap=True)
    elsewhere = data.get("builtElsewhere")  # the local instance says it (cli/records.py)
    if elsewhere:
        shown = few(elsewhere["assets"], 5)
        console.print(f"[yellow]![/] the latest run that built anything ({elsewhere['runId'][:8]}) built assets these definitions "
                      f"do not have: {shown}. Is this the dbt project it ran with (CLAWDATA_DBT_PROJECT_DIR), with its "
                      "sources? A model deleted or renamed since leaves its asset's records too.", soft_wrap=True)

    runs = Table(title="Recent runs", title_justify="left")
    for column in ("run", "job", "status", "started", "seconds", "triggered by"):
        runs.add_column(column)
    listed = expect(data["runsOrError"], "Runs", "listing runs")["results"]
    # A run Dagster retried (its container died, it did not start in time on a busy host: nothing the
    # user's data or code did) shows its retry's outcome beside its own.
    retried = {tags["dagster/parent_run_id"]: r for r in listed
               if "dagster/parent_run_id" in (tags := {t["key"]: t["value"] for t in r["tags"]})}
    for run in listed:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        trigger = _trigger(tags)
        took = f"{run['endTime'] - run['startTime']:.1f}" if run["startTime"] and run["endTime"] else "-"
        colour = {"SUCCESS": "green", "FAILURE": "red", "CANCELED": "red"}.get(run["status"], "yellow")
        shown = f"[{colour}]{run['status']}[/]"
        if run["status"] == "FAILURE" and run["runId"] in retried:
            retry = retried[run["runId"]]
            shown = f"[yellow]retried[/] as {retry['runId'][:8]}: {retry['status']}"
        elif run["status"] == "CANCELED" and CANCELED_BY_TAG in tags:  # its record went back to the backup's
            shown, took = f"[red]CANCELED[/] by {tags[CANCELED_BY_TAG]}", "-"
        runs.add_row(run["runId"][:8], run["jobName"], shown, _when(run["startTime"]), took, escape(trigger))
    console.print(runs)

    automation = Table(title="Schedules and sensors", title_justify="left")
    for column in ("name", "kind", "state", "when", "last tick"):
        automation.add_column(column, overflow="fold")  # a tick's reason whole: it says why nothing ran
    for repo in expect(data["repositoriesOrError"], "RepositoryConnection", "listing schedules")["nodes"]:
        for s in repo["schedules"]:
            future = s["futureTicks"]["results"]
            when = f"{s['cronSchedule']} ({s['executionTimezone'] or 'UTC'})" + (f", next {_when(future[0]['timestamp'])}" if future else "")
            automation.add_row(s["name"], "schedule", s["scheduleState"]["status"], when, _last_tick(s["scheduleState"]["ticks"]))
        for s in repo["sensors"]:
            automation.add_row(s["name"], "sensor", s["sensorState"]["status"], f"every {s['minIntervalSeconds']} s",
                               _last_tick(s["sensorState"]["ticks"]))
    if not data.get("unavailable"):
        console.print(automation)

    daemons = data["instance"]["daemonHealth"]["allDaemonStatuses"]
    required = [d for d in daemons if d["required"]]
    unhealthy = [d["daemonType"] for d in required if not _daemon_alive(d)]
    if not unhealthy:
        console.print(f"daemon: [green]healthy[/] ({', '.join(d['daemonType'] for d in required)})")
    else:
        console.print(
            f"daemon: [yellow]not running[/] ({', '.join(unhealthy)}): schedules and sensors only run under "
            "`clawdata dagster dev` or the Compose stack's daemon"
        )
    if data.get("loadError"):  # said last, and the exit status says it: the runs above are the records'
        raise data["loadError"]
