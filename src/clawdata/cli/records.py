"""The local instance's status from Dagster's records alone: no definitions loaded, no GraphQL.

The definitions' static part comes from their snapshot (definitions_snapshot.py); materializations,
check results, the latest attempt of each asset, runs, schedule and sensor state, ticks and daemon
heartbeats come from the instance. The answer has the shape of the STATUS query a deployment answers
(cli/queries.py), so that one renderer shows both.
"""

import time

import dagster as dg


def status_data(instance: dg.DagsterInstance, definitions: dict, run_limit: int) -> dict:
    keys = [dg.AssetKey(node["assetKey"]["path"]) for node in definitions["assetNodes"]]
    latest = instance.get_latest_materialization_events(keys)
    check_keys = [dg.AssetCheckKey(key, check["name"]) for key, node in zip(keys, definitions["assetNodes"])
                  for check in (node["assetChecksOrError"].get("checks") or [])]
    executions = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    runs: dict[str, dg.DagsterRun | None] = {}

    def run_status(run_id: str) -> str | None:
        if run_id not in runs:
            runs[run_id] = instance.get_run_by_id(run_id)
        return runs[run_id].status.value if runs[run_id] else None

    steps: dict[str, dict[str, str]] = {}

    def attempt(run_id: str) -> dict:
        if run_id not in steps:
            steps[run_id] = {s.step_key: s.status.value for s in instance.get_run_step_stats(run_id) if s.status}
        found = {"runId": run_id, "status": run_status(run_id), "steps": steps[run_id]}
        return {**found, "failures": _failures(instance, run_id)} if found["status"] == "FAILURE" else found

    nodes = []
    for key, node in zip(keys, definitions["assetNodes"]):
        entry = latest.get(key)
        planned = instance.get_latest_planned_materialization_info(key)
        unbuilt = planned is not None and (entry is None or entry.run_id != planned.run_id)  # its last attempt
        nodes.append({
            **node,
            "assetMaterializations": [_materialization(entry)] if entry else [],
            "freshnessStatusInfo": None,  # the daemon's verdict: status applies the same rule itself
            "assetObservations": _observation(instance, key) if unbuilt else [],
            "latestAttempt": attempt(planned.run_id) if planned else None,
            "assetChecksOrError": {"checks": [
                {"name": check["name"], "executionForLatestMaterialization":
                    _execution(executions.get(dg.AssetCheckKey(key, check["name"])), run_status)}
                for check in (node["assetChecksOrError"].get("checks") or [])]},
        })
    return {
        "assetNodes": nodes,
        "runsOrError": {"__typename": "Runs", "results": [_run(r) for r in instance.get_run_records(limit=run_limit)]},
        "instance": {"daemonHealth": {"allDaemonStatuses": _daemons(instance)}},
        "repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [_automation(instance, definitions)]},
    }


def built_elsewhere(instance: dg.DagsterInstance, asset_nodes: list[dict], run_limit: int) -> dict | None:
    """What the latest run that built anything built and these definitions lack: status run with
    another CLAWDATA_DBT_PROJECT_DIR (a shell without it) showed the shipped models as never built and
    nothing of the project the runs built."""
    known = {dg.AssetKey(node["assetKey"]["path"]) for node in asset_nodes}
    for record in instance.get_run_records(limit=run_limit):
        built = {r.asset_key for r in instance.get_records_for_run(
            record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=10_000).records if r.asset_key}
        if built:
            unknown = sorted(k.to_user_string() for k in built - known)
            return {"runId": record.dagster_run.run_id, "assets": unknown} if unknown else None
    return None


def _failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Why each step of a failed run failed, as `materialize` says it (read once per failed run)."""
    from clawdata.cli.local import describe_event

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    return {e.name: e.detail for r in records if (e := describe_event(r.event_log_entry.dagster_event))}


def _observation(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[dict]:
    """The latest observation, as STATUS asks for it (read for an asset whose latest attempt did not
    materialize it: why dbt did not build it)."""
    records = instance.fetch_observations(key, limit=1).records
    if not records:
        return []
    entry = records[0].event_log_entry
    metadata = entry.asset_observation.metadata
    return [{"timestamp": entry.timestamp, "runId": entry.run_id, "metadataEntries": [
        {"label": label, **({"intValue": value.value} if isinstance(value, dg.IntMetadataValue) else {}),
         **({"text": value.value} if isinstance(value, dg.TextMetadataValue) else {})} for label, value in metadata.items()]}]


def _materialization(entry) -> dict:
    metadata = entry.asset_materialization.metadata
    return {"timestamp": entry.timestamp, "runId": entry.run_id, "metadataEntries": [
        {"label": label, **({"intValue": value.value} if isinstance(value, dg.IntMetadataValue) else {"text": value.value})}
        for label, value in metadata.items() if isinstance(value, (dg.IntMetadataValue, dg.TextMetadataValue))],
            "tags": [{"key": k, "value": v} for k, v in (entry.asset_materialization.tags or {}).items()]}


def _execution(record, run_status) -> dict | None:
    """As GraphQL's executionForLatestMaterialization says it: a planned check whose run ended
    without it was skipped (a dbt test whose model failed, a run that stopped early)."""
    if record is None:
        return None
    status = record.status.value
    if status == "PLANNED":
        status = "IN_PROGRESS" if run_status(record.run_id) in ("STARTED", "STARTING", "QUEUED") else "SKIPPED"
    evaluation = record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event else None
    severity = evaluation.severity.value if isinstance(evaluation, dg.AssetCheckEvaluation) else None
    return {"status": status, "evaluation": {"severity": severity}}


def _run(record) -> dict:
    run = record.dagster_run
    return {"runId": run.run_id, "status": run.status.value, "jobName": run.job_name,
            "startTime": record.start_time, "endTime": record.end_time,
            "tags": [{"key": k, "value": v} for k, v in run.tags.items()]}


def _automation(instance: dg.DagsterInstance, definitions: dict) -> dict:
    states = {state.instigator_name: state for state in instance.all_instigator_state()}
    repositories = (definitions.get("repositoriesOrError") or {}).get("nodes") or [{}]

    def ticks(name: str) -> list[dict]:
        state = states.get(name)
        if state is None:
            return []
        return [{"status": t.status.value, "timestamp": t.timestamp, "skipReason": t.skip_reason,
                 "error": {"message": t.error.message} if t.error else None}
                for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)]

    def status(name: str, default: str) -> str:
        return states[name].status.value if name in states and states[name].status.value != "DECLARED_IN_CODE" else default

    schedules = [{**s, "scheduleState": {"status": status(s["name"], s["scheduleState"]["status"]), "ticks": ticks(s["name"])},
                  "futureTicks": {"results": _next_tick(s)}} for repo in repositories for s in repo.get("schedules", [])]
    sensors = [{**s, "sensorState": {"status": status(s["name"], s["sensorState"]["status"]), "ticks": ticks(s["name"])}}
               for repo in repositories for s in repo.get("sensors", [])]
    return {"schedules": schedules, "sensors": sensors}


def _next_tick(schedule: dict) -> list[dict]:
    # Dagster's own cron iteration (the scheduler's), so the next tick is the one the daemon takes.
    from dagster._utils.schedules import cron_string_iterator

    upcoming = cron_string_iterator(time.time(), schedule["cronSchedule"], schedule.get("executionTimezone") or "UTC")
    return [{"timestamp": next(upcoming).timestamp()}]


def _daemons(instance: dg.DagsterInstance) -> list[dict]:
    # Dagster's own health rule (heartbeat within interval + tolerance), as the UI applies it.
    from dagster._daemon.controller import get_daemon_statuses

    required = instance.get_required_daemon_types()
    return [{"daemonType": kind, "healthy": bool(s.healthy), "required": s.required,
             "lastHeartbeatTime": s.last_heartbeat.timestamp if s.last_heartbeat else None}
            for kind, s in get_daemon_statuses(instance, required, ignore_errors=True).items()]
