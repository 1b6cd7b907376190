"""The local instance's status read straight from Dagster's SQLite files, without importing Dagster.

Why by hand: importing Dagster takes about 1 s, most of what `status` costs, and Dagster has no reader
of its records without that import (issue 20: `status` within 1 s of `clawdata --version`). This
reads the files of the local instance's default storage (cli/local.py: runs.db, the event log's
index and run shards, schedules.db) and answers what cli/records.py answers through Dagster's API,
in the same shape.

It declines (None: records.py answers) wherever its reading could differ from Dagster's: storage
other than that, a schema revision it was not checked against, a wiped asset, a run to release (its
process gone, or a warehouse slot held by a run that ended: Dagster's path writes that), ticks from
before Dagster's selector migration, a schedule's next tick near a change of its timezone's offset,
no instance facts remembered, or anything read in a shape it does not expect. tests/status_readers.py
holds both readers to the same answer on real histories (tests/test_cli_failures.py,
test_local_pipeline.py, test_sensor.py, test_dev_cursor.py), and tests/test_private_apis.py the
revision to Dagster's own, so an upgrade that changes what is read here fails there.
"""

import json
import re
import socket
import sqlite3
import time
from contextlib import ExitStack, closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from clawdata import settings
from clawdata.cli.local import CREATED_BY, PROCESS_TAG, UNFINISHED, process_gone
from clawdata.cli.progress import INTERRUPTED_TEXT, failure_text

# The alembic revision of Dagster's SQLite schemas (1.13) this reader was checked against.
SCHEMA_REVISION = "29b539ebc72a"
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
# Dagster's daemon health rule: a heartbeat within its interval plus a tolerance (dagster._daemon.controller).
DAEMON_INTERVAL_S, DAEMON_TOLERANCE_S = 30, 1800
_STEP_STATUS = {"STEP_START": "IN_PROGRESS", "STEP_SUCCESS": "SUCCESS", "STEP_FAILURE": "FAILURE", "STEP_SKIPPED": "SKIPPED"}
_CHUNK = 500  # keys per query: under SQLite's limit of bound parameters


def status_data(home: Path, definitions: dict, daemons: list[str] | None, run_limit: int) -> dict | None:
    """What records.status_data and records.built_elsewhere say, or None where this reading declines."""
    if daemons is None or not _default_storage(home):
        return None
    try:
        with ExitStack() as stack:
            runs, index, schedules = (stack.enter_context(closing(_open(home / p))) for p in (
                "history/runs.db", "history/runs/index.db", "schedules/schedules.db"))
            if any(_revision(db) != SCHEMA_REVISION for db in (runs, index, schedules)) or _unusual(home, runs, index, schedules):
                return None
            return _Reader(home, runs, index, schedules).status(definitions, daemons, run_limit)
    except Exception:  # noqa: BLE001 (not there yet, unreadable, a shape not expected: Dagster's path answers, and says why)
        return None


def _default_storage(home: Path) -> bool:
    try:
        text = (home / "dagster.yaml").read_text()
    except OSError:
        return False
    base_dir = re.search(r"(?m)^    base_dir: ['\"]?(.+?)['\"]?(?:\s+#.*)?$", text)  # a home's path may hold spaces
    return (text.startswith(CREATED_BY) and "class: ClawdataSqliteEventLogStorage" in text
            and base_dir is not None and Path(base_dir[1]) == home / "history" / "runs"
            and not re.search(r"(?m)^(storage|run_storage|schedule_storage):", text))


def _open(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise FileNotFoundError(path)
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)


def _revision(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _unusual(home: Path, runs, index, schedules) -> bool:
    """What this reading leaves to Dagster's: wiped assets, instigators not yet migrated to their own
    table, and runs the local target releases first (cli/local.py release_dead_runs)."""
    if index.execute("SELECT 1 FROM asset_keys WHERE wipe_timestamp IS NOT NULL OR asset_details IS NOT NULL LIMIT 1").fetchone():
        return True
    if not schedules.execute("SELECT 1 FROM secondary_indexes WHERE name = 'schedule_jobs_selector_id' "
                             "AND migration_completed IS NOT NULL").fetchone():
        return True
    if schedules.execute("SELECT 1 FROM job_ticks WHERE selector_id IS NULL LIMIT 1").fetchone():  # found by origin id
        return True
    marks = ",".join("?" * len(UNFINISHED))
    for run_id, body, created in runs.execute(f"SELECT run_id, run_body, create_timestamp FROM runs WHERE status IN ({marks})",
                                              UNFINISHED):
        process = (json.loads(body).get("tags") or {}).get(PROCESS_TAG)
        found = (process, _utc(created)) if process else _engine_process(home, run_id)
        if found and process_gone(*found):
            return True
    holders = {r for (r,) in index.execute(
        "SELECT run_id FROM concurrency_slots WHERE concurrency_key = ?1 AND run_id IS NOT NULL "
        "UNION SELECT run_id FROM pending_steps WHERE concurrency_key = ?1", (settings.WAREHOUSE_POOL,))}
    for run_id in holders:
        row = runs.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None or row[0] in FINISHED:
            return True
    return False


def _engine_process(home: Path, run_id: str) -> tuple[str, float] | None:
    """host:pid of a run without clawdata's tag (one `dagster dev` launched), as cli/local.py
    _process_of finds it: the pid Dagster's engine logged among the run's first engine events."""
    path = home / "history" / "runs" / f"{run_id}.db"
    if not path.exists():
        return None
    with closing(_open(path)) as db:
        for event, timestamp in db.execute("SELECT event, timestamp FROM event_logs WHERE dagster_event_type = 'ENGINE_EVENT' "
                                           "ORDER BY id LIMIT 20"):
            entry = json.loads(event)
            pid = dict(_metadata(entry["dagster_event"]["event_specific_data"])).get("pid")
            if pid is not None:
                return f"{socket.gethostname()}:{pid.get('text', pid.get('value'))}", entry["timestamp"]
    return None


def _utc(naive: str) -> float:
    return datetime.fromisoformat(naive).replace(tzinfo=timezone.utc).timestamp()


def _key(path: list[str]) -> str:
    return json.dumps(path)  # Dagster's AssetKey.to_string


def _enum(value: dict | None) -> str | None:
    return value["__enum__"].rpartition(".")[2] if value else None


def _metadata(data: dict) -> list[tuple[str, dict]]:
    """(label, serialized value) in order: the entries of older events, or the mapping of newer ones."""
    if data.get("metadata_entries") is not None:
        return [(e["label"], e["entry_data"]) for e in data["metadata_entries"]]
    return list((data.get("metadata") or {}).items())


class _Reader:
    def __init__(self, home: Path, runs, index, schedules):
        self.home, self.runs, self.index, self.schedules = home, runs, index, schedules
        self._status: dict[str, str | None] = {}
        self._steps: dict[str, dict[str, str]] = {}

    def status(self, definitions: dict, daemons: list[str], run_limit: int) -> dict:
        nodes_in = definitions["assetNodes"]
        keys = [_key(n["assetKey"]["path"]) for n in nodes_in]
        latest = self._latest_materializations(keys)
        planned = self._latest("ASSET_MATERIALIZATION_PLANNED", keys)
        executions = self._check_executions([(k, c["name"]) for k, n in zip(keys, nodes_in)
                                             for c in (n["assetChecksOrError"].get("checks") or [])])
        nodes = []
        for key, node in zip(keys, nodes_in):
            entry = latest.get(key)
            attempt = planned.get(key)
            unbuilt = attempt is not None and (entry is None or entry["run_id"] != attempt["run_id"])
            nodes.append({
                **node,
                "assetMaterializations": [_materialization(entry)] if entry else [],
                "freshnessStatusInfo": None,
                "assetObservations": self._observation(key) if unbuilt else [],
                "latestAttempt": self._attempt(attempt["run_id"]) if attempt else None,
                "assetChecksOrError": {"checks": [
                    {"name": c["name"], "executionForLatestMaterialization": self._execution(executions.get((key, c["name"])))}
                    for c in (node["assetChecksOrError"].get("checks") or [])]},
            })
        listed = self.runs.execute("SELECT run_id, status, run_body, start_time, end_time FROM runs ORDER BY id DESC LIMIT ?",
                                   (run_limit or -1,)).fetchall()  # Dagster's: a limit of 0 is none
        return {
            "assetNodes": nodes,
            "runsOrError": {"__typename": "Runs", "results": [_run(*row) for row in listed]},
            "instance": {"daemonHealth": {"allDaemonStatuses": self._daemons(daemons)}},
            "repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [self._automation(definitions)]},
            "builtElsewhere": self._built_elsewhere(nodes_in, [row[0] for row in listed]),
            "released": [],
        }

    def _latest_materializations(self, keys: list[str]) -> dict[str, dict]:
        """As Dagster reads them: the record each asset's row keeps (it outlives a purged or deleted
        run), else, for a row of an older format, the latest event in the log."""
        found, older = {}, []
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            rows = self.index.execute(f"SELECT asset_key, last_materialization FROM asset_keys WHERE asset_key IN "
                                      f"({','.join('?' * len(chunk))})", chunk)
            for key, stored in rows:
                record = json.loads(stored) if stored else None
                if record and record.get("__class__") == "EventLogRecord":
                    found[key] = record["event_log_entry"]
                else:
                    older.append(key)
        return {**found, **(self._latest("ASSET_MATERIALIZATION", older) if older else {})}

    def _latest(self, kind: str, keys: list[str]) -> dict[str, dict]:
        """Each asset's latest event of a kind (Dagster's highest storage id), parsed."""
        found = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            rows = self.index.execute(
                f"SELECT e.asset_key, e.event FROM event_logs e JOIN (SELECT max(id) AS id FROM event_logs "
                f"WHERE dagster_event_type = ? AND asset_key IN ({','.join('?' * len(chunk))}) GROUP BY asset_key) m ON e.id = m.id",
                (kind, *chunk))
            found.update((key, json.loads(event)) for key, event in rows)
        return found

    def _run_status(self, run_id: str) -> str | None:
        if run_id not in self._status:
            row = self.runs.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            self._status[run_id] = row[0] if row else None
        return self._status[run_id]

    def _shard(self, run_id: str):
        path = self.home / "history" / "runs" / f"{run_id}.db"
        return closing(_open(path)) if path.exists() else None

    def _attempt(self, run_id: str) -> dict:
        if run_id not in self._steps:
            steps: dict[str, str] = {}
            if shard := self._shard(run_id):  # Dagster's step stats: the last start or end event of each step
                with shard as db:
                    marks = ",".join("?" * len(_STEP_STATUS))
                    for step, kind in db.execute(f"SELECT step_key, dagster_event_type FROM event_logs WHERE step_key IS NOT NULL "
                                                 f"AND dagster_event_type IN ({marks}) ORDER BY id", tuple(_STEP_STATUS)):
                        steps[step] = _STEP_STATUS[kind]
            self._steps[run_id] = steps
        found = {"runId": run_id, "status": self._run_status(run_id), "steps": self._steps[run_id]}
        return {**found, "failures": self._failures(run_id)} if found["status"] == "FAILURE" else found

    def _failures(self, run_id: str) -> dict[str, str]:
        """Why each step failed, as cli/local.py describe_event says it."""
        said = {}
        if shard := self._shard(run_id):
            with shard as db:
                for step, event in db.execute("SELECT step_key, event FROM event_logs WHERE dagster_event_type = 'STEP_FAILURE' ORDER BY id"):
                    data = json.loads(event)["dagster_event"]["event_specific_data"]
                    causes, error = [], data.get("error")
                    while error is not None:
                        causes.append(error["message"])
                        error = error.get("cause")
                    user = data.get("user_failure_data") or {}
                    interrupted = _enum(data.get("error_source")) == "INTERRUPT"
                    said[step] = INTERRUPTED_TEXT if interrupted else failure_text(user.get("description"), causes)
        return said

    def _observation(self, key: str) -> list[dict]:
        entry = self._latest("ASSET_OBSERVATION", [key]).get(key)
        if entry is None:
            return []
        observation = entry["dagster_event"]["event_specific_data"]["asset_observation"]
        return [{"timestamp": entry["timestamp"], "runId": entry["run_id"], "metadataEntries": [
            {"label": label, **({"intValue": v["value"]} if v["__class__"] == "IntMetadataEntryData" else {}),
             **({"text": v["text"]} if v["__class__"] == "TextMetadataEntryData" else {})} for label, v in _metadata(observation)]}]

    def _check_executions(self, checks: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
        found = {}
        for i in range(0, len(checks), _CHUNK):
            chunk = checks[i:i + _CHUNK]
            keys, names = sorted({k for k, _ in chunk}), sorted({n for _, n in chunk})
            rows = self.index.execute(
                "SELECT asset_key, check_name, run_id, execution_status, evaluation_event FROM asset_check_executions WHERE id IN "
                f"(SELECT max(id) FROM asset_check_executions WHERE asset_key IN ({','.join('?' * len(keys))}) "
                f"AND check_name IN ({','.join('?' * len(names))}) GROUP BY asset_key, check_name)", (*keys, *names))
            found.update(((key, name), rest) for key, name, *rest in rows)
        return found

    def _execution(self, row: tuple | None) -> dict | None:
        """As records._execution: a planned check whose run ended without it was skipped."""
        if row is None:
            return None
        run_id, status, event = row
        if status == "PLANNED":
            status = "IN_PROGRESS" if self._run_status(run_id) in ("STARTED", "STARTING", "QUEUED") else "SKIPPED"
        evaluation = (json.loads(event).get("dagster_event") or {}).get("event_specific_data") if event else None
        severity = _enum(evaluation["severity"]) if evaluation and evaluation.get("__class__") == "AssetCheckEvaluation" else None
        return {"status": status, "evaluation": {"severity": severity}}

    def _daemons(self, required: list[str]) -> list[dict]:
        beats = {kind: json.loads(body)["timestamp"] for kind, body in self.runs.execute("SELECT daemon_type, body FROM daemon_heartbeats")}
        now = time.time()
        return [{"daemonType": kind, "healthy": kind in beats and now <= beats[kind] + DAEMON_INTERVAL_S + DAEMON_TOLERANCE_S,
                 "required": True, "lastHeartbeatTime": beats.get(kind)} for kind in required]

    def _automation(self, definitions: dict) -> dict:
        states = {}
        for selector, body in self.schedules.execute("SELECT selector_id, instigator_body FROM instigators"):
            state = json.loads(body)
            status = _enum(state["status"])  # as Dagster reads it: its stored body, an old name renamed
            states[state["origin"]["job_name"]] = (selector, "DECLARED_IN_CODE" if status == "AUTOMATICALLY_RUNNING" else status)
        repositories = (definitions.get("repositoriesOrError") or {}).get("nodes") or [{}]

        def ticks(name: str) -> list[dict]:
            if name not in states:
                return []
            rows = self.schedules.execute(  # (a tick without a selector id declined this reading: _unusual)
                "SELECT tick_body FROM job_ticks WHERE selector_id = ? ORDER BY timestamp DESC LIMIT 1", (states[name][0],)).fetchall()
            return [{"status": _enum(t["status"]), "timestamp": t["timestamp"], "skipReason": t.get("skip_reason"),
                     "error": {"message": t["error"]["message"]} if t.get("error") else None}
                    for t in (json.loads(body) for (body,) in rows)]

        def status(name: str, default: str) -> str:
            return states[name][1] if name in states and states[name][1] != "DECLARED_IN_CODE" else default

        schedules = [{**s, "scheduleState": {"status": status(s["name"], s["scheduleState"]["status"]), "ticks": ticks(s["name"])},
                      "futureTicks": {"results": _next_tick(s)}} for repo in repositories for s in repo.get("schedules", [])]
        sensors = [{**s, "sensorState": {"status": status(s["name"], s["sensorState"]["status"]), "ticks": ticks(s["name"])}}
                   for repo in repositories for s in repo.get("sensors", [])]
        return {"schedules": schedules, "sensors": sensors}

    def _built_elsewhere(self, asset_nodes: list[dict], run_ids: list[str]) -> dict | None:
        """As records.built_elsewhere: what the latest run that built anything built and these definitions lack."""
        known = {_key(n["assetKey"]["path"]) for n in asset_nodes}
        for run_id in run_ids:
            built = {k for (k,) in self.index.execute(
                "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = ? AND dagster_event_type = 'ASSET_MATERIALIZATION' "
                "AND asset_key IS NOT NULL", (run_id,))}
            if built:
                unknown = sorted("/".join(json.loads(k)) for k in built - known)
                return {"runId": run_id, "assets": unknown} if unknown else None
        return None


def _materialization(entry: dict) -> dict:
    materialization = entry["dagster_event"]["event_specific_data"]["materialization"]
    values = [(label, v) for label, v in _metadata(materialization) if v["__class__"] in ("IntMetadataEntryData", "TextMetadataEntryData")]
    return {"timestamp": entry["timestamp"], "runId": entry["run_id"], "metadataEntries": [
        {"label": label, **({"intValue": v["value"]} if v["__class__"] == "IntMetadataEntryData" else {"text": v["text"]})}
        for label, v in values],
            "tags": [{"key": k, "value": v} for k, v in (materialization.get("tags") or {}).items()]}


def _run(run_id: str, status: str, body: str, start: float | None, end: float | None) -> dict:
    run = json.loads(body)
    return {"runId": run_id, "status": status, "jobName": run["pipeline_name"], "startTime": start, "endTime": end,
            "tags": [{"key": k, "value": v} for k, v in (run.get("tags") or {}).items()]}


class _Declined(Exception):
    pass


def _next_tick(schedule: dict) -> list[dict]:
    # croniter, which Dagster's own iteration (dagster._utils.schedules) builds on: the same next tick,
    # except across a change of the timezone's UTC offset, where Dagster has rules of its own.
    from croniter import croniter
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(schedule.get("executionTimezone") or "UTC")
    now = datetime.now(zone)
    upcoming = croniter(schedule["cronSchedule"], now).get_next(datetime)
    days = (upcoming - now).days + 2
    if days > 400 or any((now + timedelta(days=d)).astimezone(zone).utcoffset() != now.utcoffset() for d in range(-1, days + 1)):
        raise _Declined(f"{schedule['name']}: its timezone's offset changes around its next tick")
    return [{"timestamp": upcoming.timestamp()}]
