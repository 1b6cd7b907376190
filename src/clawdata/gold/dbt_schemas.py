"""dbt's JSON schemas of its config classes, kept on disk from one process to the next.

Every dbt command validates `dbt_project.yml`, the profile's credentials, the project flags and the
packages against JSON schemas that dbt builds from its dataclasses (mashumaro's `build_json_schema`),
anew in every process: 0.4-0.6 s of CPU before a build's first node, on a run whose nodes may take
less. A schema depends only on the code that defines it, so it is kept in a file beside the project's
manifest, under the versions of the packages that make it and the file of each class's module:
another version or an edited module builds it anew.

Why by hand: dbt has no setting for it. `dbtClassMixin.json_schema` is the one place dbt asks for a
schema (an `lru_cache` per class and process); `use()` puts a reader of this file in front of it.
tests/test_private_apis.py checks that a dbt command still asks there, and that a warm file leaves
mashumaro nothing to build.
"""

import functools
import json
import os
import sys
import threading
from importlib import metadata
from pathlib import Path

FILE = "clawdata_dbt_schemas.json"
_PACKAGES = ("dbt-core", "dbt-common", "dbt-adapters", "dbt-duckdb", "mashumaro")

_lock = threading.Lock()
_schemas: dict[str, dict] = {}  # "module.Class" -> {"module": its file's stamp, "schema": ...}
_new = False


@functools.cache  # the installed packages do not change under a running process
def versions() -> str:
    found = []
    for name in _PACKAGES:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}: none")
    return f"python {sys.version_info[0]}.{sys.version_info[1]}; " + ", ".join(found)


def _stamp(module_name: str) -> str | None:
    path = getattr(sys.modules.get(module_name), "__file__", None)
    if not path:
        return None
    stat = os.stat(path)
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def use(path: Path) -> None:
    """Read the schemas kept in `path` (if they were made by these versions) and have dbt ask here first.
    Idempotent; call before a dbt command, and `save` after it."""
    from dbt_common.dataclass_schema import dbtClassMixin

    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        kept = {}
    with _lock:
        if kept.get("versions") == versions():
            for key, entry in (kept.get("schemas") or {}).items():
                _schemas.setdefault(key, entry)
        if getattr(dbtClassMixin.json_schema, "_clawdata", False):
            return
        built = dbtClassMixin.__dict__["json_schema"].__func__  # dbt's own, cached per class

        def json_schema(cls) -> dict:
            global _new
            key, stamp = f"{cls.__module__}.{cls.__qualname__}", _stamp(cls.__module__)
            entry = _schemas.get(key)
            if entry is None or stamp is None or entry["module"] != stamp:
                entry = {"module": stamp, "schema": built(cls)}
                with _lock:
                    _schemas[key] = entry
                    _new = _new or stamp is not None
            return entry["schema"]

        json_schema._clawdata = True
        dbtClassMixin.json_schema = classmethod(json_schema)


def save(path: Path) -> None:
    """Write the schemas this process built, for the next one (a read-only project: never mind)."""
    global _new
    with _lock:
        if not _new:
            return
        text = json.dumps({"versions": versions(), "schemas": _schemas})
        _new = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(text)
        partial.replace(path)  # whole or not at all: another process may read it now
    except OSError:
        pass
