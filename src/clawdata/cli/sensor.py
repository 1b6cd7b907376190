"""`clawdata dagster sensor tick NAME`: evaluate a sensor now, as the daemon would.

It evaluates from the sensor's stored cursor, shows what it requested or why it skipped, submits the
requested runs (skipping run keys that already ran, as the daemon does) and stores the new cursor.
"""

import difflib

from clawdata.cli import queries, remote
from clawdata.cli.errors import USAGE_ERROR, ClawdataError
from clawdata.cli.graphql import LOCATION, REPOSITORY, expect
from clawdata.cli.materialize import ASSET_JOB, raise_for, run_and_report
from clawdata.cli.progress import console, escape
from clawdata.cli.target import Target


def tick(target: Target, name: str) -> None:
    target.check_location()
    graphql = target.graphql
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}
    sensor = graphql(queries.SENSOR, {"selector": selector})["sensorOrError"]
    if sensor["__typename"] == "SensorNotFoundError":
        names = [s["name"] for repo in graphql(queries.SENSOR_NAMES)["repositoriesOrError"]["nodes"] for s in repo["sensors"]]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        raise ClawdataError(f"unknown sensor '{name}'{hint}\nknown sensors: {', '.join(names)}", exit_code=USAGE_ERROR)
    expect(sensor, "Sensor", f"sensor {name}")
    if sensor.get("sensorType") in ("AUTOMATION", "AUTO_MATERIALIZE"):
        # Dagster evaluates an automation condition sensor in its daemon alone, from a cursor of its
        # own: it cannot be dry-run ("cannot be evaluated like regular user-space sensors").
        keys = [" ".join("/".join(k["path"]) for k in (sensor.get("assetSelection") or {}).get("assetKeys") or [])]
        raise ClawdataError(f"sensor {name} is an automation condition sensor: Dagster's daemon evaluates it "
                            "(`clawdata dagster dev`, or the stack), not a tick from here; to do now what it would, "
                            f"materialize what it targets: clawdata dagster materialize {keys[0] or 'ASSET...'}",
                            exit_code=USAGE_ERROR)
    cursor = (sensor["sensorState"]["typeSpecificData"] or {}).get("lastCursor")
    # The job the daemon would launch (the sensor's, as in the UI's run list), else Dagster's asset job.
    targets = [t["pipelineName"] for t in sensor.get("targets") or []]
    sensor_job = targets[0] if len(targets) == 1 else ASSET_JOB

    def evaluate() -> dict:
        dry = expect(graphql(queries.SENSOR_DRY_RUN, {"selector": selector, "cursor": cursor})["sensorDryRun"],
                     "DryRunInstigationTick", f"evaluating sensor {name}")
        # The code server restarting (`docker compose up -d --build user_code`) after the webserver
        # last saw it: waited for, as every other command waits for it
        error = dry["evaluationResult"]["error"] or {}
        remote.raise_if_code_server_down(target.where, error.get("message"), *(c.get("message") for c in error.get("causes") or []))
        return dry["evaluationResult"]

    result = target.when_code_server_answers(evaluate)
    if result["error"]:  # Dagster's wrapper says only that the sensor failed: its causes say why
        causes = [c["message"].strip() for c in result["error"].get("causes") or [] if c.get("message")]
        raise ClawdataError(f"sensor {name} raised an error: {result['error']['message'].strip()}"
                            + "".join(f"\n  caused by: {c}" for c in causes))
    requests = result["runRequests"] or []
    if not requests:
        console.print(f"sensor [bold]{name}[/] skipped: {escape(result['skipReason'] or 'no run requested')}")

    statuses = []
    for request in requests:
        tags = {t["key"]: t["value"] for t in request["tags"]}
        checks = [(c["assetKey"]["path"], c["name"]) for c in request.get("assetChecks") or []] or None
        # No assets: the job's, or, with checks named, those checks alone (a test added or edited).
        # (GraphQL says an empty selection as none; the daemon runs it as asked: tests/test_sensor.py.)
        assets = [a["path"] for a in request["assetSelection"]] if request["assetSelection"] else [] if checks else None
        requested = ", ".join("/".join(a) for a in assets) if assets else f"{len(checks or [])} check(s)" if assets == [] else "everything"
        console.print(f"sensor [bold]{name}[/] requested {escape(requested)}"
                      + (f"  [dim]({escape(tags['clawdata/trigger'])})[/]" if "clawdata/trigger" in tags else ""))
        tags.update({"dagster/sensor_name": name, "clawdata/launched_by": "cli sensor tick"})
        if request["runKey"]:
            tags["dagster/run_key"] = request["runKey"]
            existing = graphql(queries.RUNS_WITH_TAGS, {"tags": [
                {"key": "dagster/sensor_name", "value": name}, {"key": "dagster/run_key", "value": request["runKey"]}]})
            if existing["runsOrError"]["results"]:
                console.print(f"  already ran for run key {request['runKey']}: skipped")
                continue
        statuses.append(run_and_report(target, request.get("jobName") or sensor_job, assets, tags, checks))

    if result["cursor"] != cursor:
        expect(graphql(queries.SET_SENSOR_CURSOR, {"selector": selector, "cursor": result["cursor"]})["setSensorCursor"],
               "Sensor", f"storing the cursor of sensor {name}")
        console.print(f"cursor of [bold]{name}[/] updated")
    raise_for(statuses)
