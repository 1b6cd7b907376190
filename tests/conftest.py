import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAWDATA = Path(sys.executable).parent / "clawdata"


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs the tests that need no stack on every core), each worker
    gets its own copy of the shipped dbt project: clawdata parses a project into its target/ and
    stamps it, and two workers doing that at once would read each other's half-written manifest."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "CLAWDATA_DBT_PROJECT_DIR" not in os.environ:
        scratch = Path(tempfile.mkdtemp(prefix=f"clawdata-tests-{worker}-"))
        shutil.copytree(ROOT / "dbt", scratch / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
        os.environ["CLAWDATA_DBT_PROJECT_DIR"] = str(scratch / "dbt")
        config.add_cleanup(lambda: shutil.rmtree(scratch, ignore_errors=True))


def make_project(tmp_path: Path) -> dict:
    """A private copy of the sample, plus an inbox, a warehouse and a Dagster instance."""
    paths = {
        "sample": tmp_path / "sample",
        "inbox": tmp_path / "inbox",
        "warehouse": tmp_path / "warehouse.duckdb",
        "home": tmp_path / "dagster_home",
    }
    shutil.copytree(ROOT / "data" / "sample", paths["sample"])
    paths["inbox"].mkdir()
    env = {
        "CLAWDATA_SAMPLE_DIR": str(paths["sample"]),
        "CLAWDATA_INBOX_DIR": str(paths["inbox"]),
        "CLAWDATA_WAREHOUSE_PATH": str(paths["warehouse"]),
        "DAGSTER_HOME": str(paths["home"]),
    }
    paths["env"] = {**os.environ, **env, "NO_COLOR": "1", "COLUMNS": "200"}
    return paths


@contextmanager
def in_process_project(tmp_path: Path):
    """make_project with its sample, inbox and warehouse set in this process's environment, and the
    code location's Definitions, for runs in-process (the instance is the caller's)."""
    paths = make_project(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        for key in ("CLAWDATA_SAMPLE_DIR", "CLAWDATA_INBOX_DIR", "CLAWDATA_WAREHOUSE_PATH"):
            mp.setenv(key, paths["env"][key])
        from clawdata.definitions import defs

        yield paths, defs


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A private project for one test; its paths are also set in this process's environment."""
    paths = make_project(tmp_path)
    for key in ("CLAWDATA_SAMPLE_DIR", "CLAWDATA_INBOX_DIR", "CLAWDATA_WAREHOUSE_PATH", "DAGSTER_HOME"):
        monkeypatch.setenv(key, paths["env"][key])
    return paths


def run_cli(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLAWDATA), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
