import atexit
import io
import json
import locale
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from clawdata.gold import dbt_core

ROOT = Path(__file__).resolve().parents[1]
# The in-process tests load gold as a code location does: dagster-dbt imported without dbt-core
# (gold/dbt_core.py), before any test module imports dbt.
dbt_core.import_dagster_dbt(ROOT / "dbt")
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
    """`clawdata ARGS` in a process of its own with `env`, as `subprocess.run` gives it: through the
    fork server (tests/cli_server.py) where the call's environment lets it, else as a new process."""
    if _CLI_SERVER.serves(env):
        return _CLI_SERVER.run(env, args, timeout)
    return subprocess.run([str(CLAWDATA), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


class _CliServer:
    """The client of tests/cli_server.py, started at this process's first call. A call whose
    environment differs from the server's in a variable the libraries may read as they are imported
    (DAGSTER_*, DBT_*, PYTHON*) runs as a new process instead; so does a call for a dbt project with
    selectors, and every call with CLAWDATA_TESTS_FORK=0 in this process's environment."""

    OWN = ("CLAWDATA_", "DAGSTER_HOME", "NO_COLOR", "COLUMNS")  # read by the command, not at import

    def __init__(self):
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    def _imports(self, env: dict) -> dict:
        return {k: v for k, v in env.items() if k.startswith(("DAGSTER_", "DBT_", "PYTHON")) and not k.startswith(self.OWN)}

    def serves(self, env: dict) -> bool:
        if os.environ.get("CLAWDATA_TESTS_FORK") == "0":
            return False
        project = ROOT / env.get("CLAWDATA_DBT_PROJECT_DIR", "dbt")
        if (project / dbt_core.SELECTORS).is_file():  # dagster-dbt with dbt-core there (gold/dbt_core.py)
            return False
        if self.process is None:
            return True
        return self._imports(env) == self._imports(self.env)

    def _start(self, env: dict) -> None:
        self.env = {k: v for k, v in env.items() if not k.startswith(self.OWN)}
        self.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "cli_server.py")], env=self.env,
                                        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        atexit.register(self.process.stdin.close)  # EOF: the server ends

    def run(self, env: dict, args: tuple, timeout: float) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory(prefix="clawdata-cli-") as scratch:
            files = {name: os.path.join(scratch, name) for name in ("stdout", "stderr", "done")}
            request = {"args": list(args), "env": dict(env), "cwd": str(ROOT), "argv0": str(CLAWDATA), **files}
            with self.lock:
                if self.process is None:
                    self._start(env)
                self.process.stdin.write(json.dumps(request).encode() + b"\n")
                self.process.stdin.flush()
                reply = self.process.stdout.readline()
            assert reply.strip().isdigit(), f"tests/cli_server.py ended: {reply!r}"
            pid, deadline = int(reply), time.monotonic() + timeout
            while not os.path.exists(files["done"]):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired([str(CLAWDATA), *args], timeout, _text(files["stdout"]), _text(files["stderr"]))
                time.sleep(0.01)
            code = int(Path(files["done"]).read_text())
            return subprocess.CompletedProcess([str(CLAWDATA), *args], code, _text(files["stdout"]), _text(files["stderr"]))


def _text(path: str) -> str:
    """A pipe's bytes as `subprocess.run(text=True)` decodes them (universal newlines)."""
    with open(path, "rb") as f:
        return io.TextIOWrapper(io.BytesIO(f.read()), encoding=locale.getpreferredencoding(False)).read()


_CLI_SERVER = _CliServer()
