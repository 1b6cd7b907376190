"""Where things live. Every path can be overridden by one environment variable.

The warehouse path is normalised into the environment at import, so the DuckDB resource, the dbt
profile (`env_var('CLAWDATA_WAREHOUSE_PATH')`) and any subprocess all see the same absolute file.
"""

import os
import socket
import sys
from pathlib import Path

# In a checkout (editable install) the project root is two levels above this package; the Docker
# image sets CLAWDATA_PROJECT_DIR because there the package is installed into site-packages.
PROJECT_DIR = Path(os.environ.get("CLAWDATA_PROJECT_DIR") or Path(__file__).resolve().parents[2])

WAREHOUSE_ENV = "CLAWDATA_WAREHOUSE_PATH"
SAMPLE_DIR_ENV = "CLAWDATA_SAMPLE_DIR"
INBOX_DIR_ENV = "CLAWDATA_INBOX_DIR"
# The gold layer: any dbt project on dbt-duckdb (README, "Bring your own dbt project").
DBT_PROJECT_DIR_ENV = "CLAWDATA_DBT_PROJECT_DIR"
# Optional: a profiles dir of the user's own; unset, clawdata generates the profile (gold/project.py).
DBT_PROFILES_DIR_ENV = "CLAWDATA_DBT_PROFILES_DIR"
DBT_VARS_ENV = "CLAWDATA_DBT_VARS"  # dbt's `--vars`, a YAML dict: given to every parse and build
DBT_TARGET_ENV = "CLAWDATA_DBT_TARGET"  # the generated profile's target name: the models' `target.name`
REPLICA_ENV = "CLAWDATA_REPLICA_PATH"  # the read path (warehouse/replica.py)
UI_URL_ENV = "CLAWDATA_UI_URL"  # the address people open a deployment's UI at: the links in alerts and the CLI

# The run tag that makes every step build in full instead of by delivery (`materialize --full-refresh`).
FULL_REFRESH_TAG = "clawdata/full_refresh"

# An observation's metadata on a dbt node the gold step did not build because something it depends on
# failed (all gold nodes share one step: `status` tells them from the node that failed by it).
NOT_BUILT_METADATA = "clawdata/not_built"
UPSTREAM_FAILED = "upstream failed"  # its text when a model, seed or snapshot above it failed
# A step failure's metadata: how many nodes failed in it (the gold step's dbt nodes; else the step's one asset).
FAILED_METADATA = "clawdata/failed"
CANCELED_BY_TAG = "clawdata/canceled_by"  # a run tag: a restore canceled the run (cli/reconcile.py)
# a run tag: the assets whose build failed in the run, with the code version that failed (JSON)
FAILED_CODE_TAG = "clawdata/failed_code"
# A dbt test's version (gold/manifest.py versions): on its check's spec, and on each result, so the inbox
# sensor asks for a test added or edited since it last ran, as `dbt build` would run it.
TEST_VERSION = "clawdata/test_version"
UNIT_TEST = "clawdata/unit_test"  # on a dbt unit test's check: dbt runs it only with its model
RESTORED_FROM = "restored_from"  # metadata of what a restore recorded (cli/reconcile.py); the inbox sensor rebuilds it
RESTORE_NOTE = "note"  # beside it, on an asset whose table the backup lacks (`status`: not in the backup)
REPLICA_ASSET = "warehouse_replica"  # the read path's asset (defs/serving); no dbt node takes its key

# The one Dagster pool that every warehouse writer joins (limit 1: DuckDB has a single writer).
WAREHOUSE_POOL = "duckdb_warehouse"

# host:pid of the CLI process that executes a local run (cli/local.py): a run whose process is gone
# (killed, the machine restarted) holds the warehouse pool's slot, and every later run waited for it.
LOCAL_PROCESS_TAG = "clawdata/process"


def this_process() -> str:
    """This process, as LOCAL_PROCESS_TAG names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _path_from_env(var: str, default: str) -> Path:
    path = Path(os.environ.get(var) or default).expanduser()
    return path if path.is_absolute() else PROJECT_DIR / path


def warehouse_path() -> Path:
    return _path_from_env(WAREHOUSE_ENV, "data/warehouse.duckdb")


def sample_dir() -> Path:
    return _path_from_env(SAMPLE_DIR_ENV, "data/sample")


def inbox_dir() -> Path:
    return _path_from_env(INBOX_DIR_ENV, "data/inbox")


def dbt_project_dir() -> Path:
    return _path_from_env(DBT_PROJECT_DIR_ENV, "dbt")


def dbt_profiles_dir() -> Path | None:
    return _path_from_env(DBT_PROFILES_DIR_ENV, "") if os.environ.get(DBT_PROFILES_DIR_ENV) else None


def dbt_vars() -> str | None:
    """CLAWDATA_DBT_VARS as dbt's `--vars` takes it (`{load_source_data: true}`), or None."""
    return os.environ.get(DBT_VARS_ENV, "").strip() or None


def dbt_target() -> str:
    """The name of the generated profile's one target (`{% if target.name == 'prod' %}` reads it)."""
    return os.environ.get(DBT_TARGET_ENV, "").strip() or "clawdata"


def ui_url(default: str = "http://127.0.0.1:3000") -> str:
    return (os.environ.get(UI_URL_ENV, "").strip() or default).rstrip("/")


def replica_path() -> Path:
    """The published read-only copy; by default in `replica/` beside the warehouse, same file name."""
    if os.environ.get(REPLICA_ENV):
        return _path_from_env(REPLICA_ENV, "")
    warehouse = warehouse_path()
    return warehouse.parent / "replica" / warehouse.name


os.environ[WAREHOUSE_ENV] = str(warehouse_path())
# Where dbt-duckdb writes an `external` model without a `location`: beside the warehouse, on its
# volume in the stack (a run container's own disk goes with it), whatever the working directory; a
# relative path is taken from the checkout, as the warehouse's is.
EXTERNAL_ROOT_ENV = "CLAWDATA_DBT_EXTERNAL_ROOT"
os.environ[EXTERNAL_ROOT_ENV] = str(_path_from_env(EXTERNAL_ROOT_ENV, str(warehouse_path().parent / "external")))

# dagster-dbt runs `dbt` from PATH; make it the dbt installed beside this interpreter, so that
# `.venv/bin/clawdata` works without an activated venv.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")
