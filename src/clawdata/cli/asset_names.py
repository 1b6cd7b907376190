"""Asset names known before the definitions load, so a misspelt name is answered at once.

Loading the definitions costs seconds (Dagster, dbt's manifest). Each load in local mode remembers
the asset names in DAGSTER_HOME with a fingerprint of what defines them (this package's code and the
dbt project's files); while the fingerprint holds, an unknown name is a usage error without a load.
A changed file invalidates it, and known names always go on to the real load.
"""

import hashlib
import json
from pathlib import Path

from clawdata import settings

CACHE_FILE = "clawdata-asset-names.json"
_SKIP_DIRS = {"target", "logs", "dbt_packages", "__pycache__"}


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for root in (Path(__file__).resolve().parents[1], settings.dbt_project_dir()):
        for path in sorted(root.rglob("*")):
            if path.is_file() and not _SKIP_DIRS.intersection(path.relative_to(root).parts):
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def remember(home: Path, names: list[str]) -> None:
    try:
        (home / CACHE_FILE).write_text(json.dumps({"fingerprint": _fingerprint(), "names": sorted(names)}))
    except OSError:  # a read-only home only loses the shortcut
        pass


def known(home: Path) -> list[str] | None:
    """The asset names of the current code, or None when they are not known without a load."""
    try:
        cached = json.loads((home / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return cached["names"] if cached.get("fingerprint") == _fingerprint() else None
