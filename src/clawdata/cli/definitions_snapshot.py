"""What the code location defines, remembered in DAGSTER_HOME after each local load.

Loading the definitions costs seconds (Dagster's definitions, dbt's manifest). Each local command
that loads them (`materialize`, `sensor tick`, a `status` after an edit) stores their static part
(asset keys, groups, code versions, freshness windows, check names, schedules and sensors, in the
shape of QUERY, the GraphQL API's answer) with a fingerprint of what defines them: this package's
code, the dbt project's files, the CLAWDATA_* settings, the instance's dagster.yaml and Dagster's
version. While the fingerprint holds, `status` reads only Dagster's records beside it, and a
misspelt asset name is answered at once. Any change invalidates it, and the next command loads the
definitions (and stores them anew). Beside them: the daemons the instance requires (its
dagster.yaml decides), which `status` reports on.
"""

import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

from clawdata import settings

CACHE_FILE = "clawdata-definitions.json"
_SKIP_DIRS = {"target", "logs", "dbt_packages", "__pycache__"}

# The static part of what `status` shows (cli/queries.py STATUS asks the same of a deployment).
QUERY = """
query Definitions {
  assetNodes {
    assetKey { path }
    groupName
    opNames
    opVersion  # the asset's code version
    dependencyKeys { path }  # what it reads: whether an upstream failure still holds it back
    internalFreshnessPolicy { __typename ... on TimeWindowFreshnessPolicy { failWindowSeconds } }
    assetChecksOrError { __typename ... on AssetChecks { checks { name } } }
  }
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        schedules { name cronSchedule executionTimezone scheduleState { status } }
        sensors { name minIntervalSeconds sensorState { status } }
      }
    }
  }
}
"""


def fingerprint() -> str:
    from clawdata.gold.project import GENERATED_SOURCES

    digest = hashlib.sha256()
    project = settings.dbt_project_dir()
    for root in (Path(__file__).resolve().parents[1], project, *(project / p for p in _local_packages(project))):
        for path in sorted(root.rglob("*")):
            # (the generated sources file: written from the declarations, which count themselves)
            if path.is_file() and not _SKIP_DIRS.intersection(path.relative_to(root).parts) and path.name != GENERATED_SOURCES:
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    for key in sorted(k for k in os.environ if k.startswith("CLAWDATA_")):
        digest.update(f"{key}={os.environ[key]}\n".encode())
    instance = Path(os.environ.get("DAGSTER_HOME") or ".") / "dagster.yaml"  # its run coordinator, its daemons
    digest.update(instance.read_bytes() if instance.exists() else b"-")
    digest.update(importlib.metadata.version("dagster").encode())  # an upgrade may require other daemons
    return digest.hexdigest()


def _local_packages(project: Path) -> list[str]:
    from clawdata.gold.project import local_packages

    return local_packages(project)


def of_repository(repository) -> dict:
    """The snapshot, in the shape QUERY answers, from the loaded definitions (a RepositoryDefinition):
    what `materialize` and `sensor tick` load anyway, so `status` after them reads records alone.
    From Dagster's RepositorySnap (~0.07 s on the sample), the record its GraphQL answers QUERY from
    (private: tests/test_private_apis.py; tests/test_local_pipeline.py holds both answers equal)."""
    from dagster import DefaultScheduleStatus, DefaultSensorStatus
    from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy
    from dagster._core.remote_representation.external_data import RepositorySnap

    snap = RepositorySnap.from_def(repository)
    checks: dict = {}
    for check in snap.asset_check_nodes or []:
        checks.setdefault(check.asset_key, []).append({"name": check.name})

    def freshness(policy) -> dict | None:
        if policy is None:
            return None
        if isinstance(policy, TimeWindowFreshnessPolicy):
            return {"__typename": "TimeWindowFreshnessPolicy", "failWindowSeconds": policy.fail_window.to_timedelta().total_seconds()}
        return {"__typename": type(policy).__name__}  # a cron policy: `status` judges time windows alone

    def state(default, running) -> dict:  # as GraphQL says a state the instance has not stored
        return {"status": "RUNNING" if default == running else "STOPPED"}

    return {
        "assetNodes": [{
            "assetKey": {"path": list(node.asset_key.path)}, "groupName": node.group_name, "opNames": list(node.op_names or []),
            "opVersion": node.code_version, "dependencyKeys": [{"path": list(e.parent_asset_key.path)} for e in node.parent_edges],
            "internalFreshnessPolicy": freshness(node.freshness_policy),
            "assetChecksOrError": {"__typename": "AssetChecks", "checks": checks.get(node.asset_key, [])},
        } for node in snap.asset_nodes],
        "repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [{
            "schedules": [{"name": s.name, "cronSchedule": str(s.cron_schedule), "executionTimezone": s.execution_timezone or "UTC",
                           "scheduleState": state(s.default_status, DefaultScheduleStatus.RUNNING)} for s in snap.schedules],
            "sensors": [{"name": s.name, "minIntervalSeconds": s.min_interval or 30,
                         "sensorState": state(s.default_status, DefaultSensorStatus.RUNNING)} for s in snap.sensors],
        }]},
    }


def remember(home: Path, definitions: dict, required_daemons: list[str], taken: str) -> None:
    """`taken`: the fingerprint from before the definitions loaded (an edit made while they loaded,
    or while a run went on, makes the next command load them again)."""
    try:
        (home / CACHE_FILE).write_text(json.dumps({"fingerprint": taken, "definitions": definitions,
                                                   "requiredDaemons": required_daemons}))
    except OSError:  # a read-only home only loses the shortcut
        pass


def stored_fingerprint(home: Path) -> str | None:
    try:
        return json.loads((home / CACHE_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError):
        return None


def known(home: Path) -> dict | None:
    """The definitions of the current code, or None when they are not known without a load."""
    return (recalled(home) or {}).get("definitions")


def recalled(home: Path) -> dict | None:
    """What the last load stored ("definitions", "requiredDaemons"), if the code is the same still."""
    try:
        cached = json.loads((home / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return cached if cached.get("fingerprint") == fingerprint() else None


def asset_names(definitions: dict) -> list[str]:
    return ["/".join(node["assetKey"]["path"]) for node in definitions["assetNodes"]]
