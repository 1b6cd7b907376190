"""What the code location defines, remembered in DAGSTER_HOME after each local load.

Loading the definitions costs seconds (Dagster's definitions, dbt's manifest). Each load in local mode
stores their static part (asset keys, groups, freshness windows, check names, schedules and sensors,
as the GraphQL API describes them) with a fingerprint of what defines them: this package's code, the
dbt project's files, the CLAWDATA_* settings and the instance's dagster.yaml. While the fingerprint holds, `status` reads only
Dagster's records beside it, and a misspelt asset name is answered at once. Any change invalidates
it, and the next command loads the definitions (and stores them anew). Beside them: the daemons
the instance requires (its dagster.yaml decides), which `status` reports on.
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
    digest = hashlib.sha256()
    project = settings.dbt_project_dir()
    for root in (Path(__file__).resolve().parents[1], project, *(project / p for p in _local_packages(project))):
        for path in sorted(root.rglob("*")):
            if path.is_file() and not _SKIP_DIRS.intersection(path.relative_to(root).parts):
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


def remember(home: Path, definitions: dict, required_daemons: list[str]) -> None:
    try:
        (home / CACHE_FILE).write_text(json.dumps({"fingerprint": fingerprint(), "definitions": definitions,
                                                   "requiredDaemons": required_daemons}))
    except OSError:  # a read-only home only loses the shortcut
        pass


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
