"""The real Compose stack, brought up once for the stack tests under a unique project name.

Everything a user's `make up` does: build the images, write an env file with a random password,
`docker compose up --wait`, then wait until the webserver reports the code location loaded. On a test
failure the services' state and logs are printed; at the end everything is removed, volumes too.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from clawdata.cli.graphql import HttpGraphQL

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    ok = subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0
    return ok and subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, tmp: Path):
        self.name = f"clawdata-e2e-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env_file = tmp / "stack.env"
        settings = {}
        repo_env = ROOT / ".env"  # images chosen by `make images-offline`, a CA bundle: kept
        if repo_env.exists():
            for line in repo_env.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep and key in ("PYTHON_BASE_IMAGE", "POSTGRES_IMAGE", "CLAWDATA_CA_BUNDLE"):
                    settings[key] = value
        # Own image tags: run containers start from the tag, so a shared `latest` rebuilt by someone
        # else meanwhile would change the code under this stack's runs.
        self.user_code_image = f"clawdata/user-code:{self.name}"
        self.dagster_image = f"clawdata/dagster:{self.name}"
        settings.update({
            "CLAWDATA_STACK": self.name,
            "CLAWDATA_USER_CODE_IMAGE": self.user_code_image,
            "CLAWDATA_DAGSTER_IMAGE": self.dagster_image,
            "CLAWDATA_UI_PORT": str(self.port),
            "DAGSTER_POSTGRES_PASSWORD": secrets.token_urlsafe(18),
            "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
            "CLAWDATA_DAILY_CRON": "* * * * *",  # the daemon must really run the schedule
            "CLAWDATA_SENSOR_INTERVAL_SECONDS": "5",
        })
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        self.settings = settings
        self.graphql = HttpGraphQL(self.url, timeout=60)

    def compose(self, *args: str, check: bool = True, timeout: float = 900, capture: bool = True,
                input: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDATA_", "DAGSTER_"))}
        result = subprocess.run(
            ["docker", "compose", "--env-file", str(self.env_file), *args],
            cwd=ROOT, env=env, capture_output=capture, text=True, timeout=timeout, input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def up(self) -> float:
        """`up --wait`, then until the webserver has loaded the code location. Returns seconds."""
        start = time.monotonic()
        self.compose("up", "-d", "--wait", "--wait-timeout", "300")
        self.wait_until_loaded()
        return time.monotonic() - start

    def wait_until_loaded(self, timeout: float = 120) -> None:
        query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename } } } } }"
        deadline = time.monotonic() + timeout
        while True:
            try:
                entries = self.graphql(query)["workspaceOrError"]["locationEntries"]
                if any(e["name"] == "clawdata" and e["loadStatus"] == "LOADED"
                       and (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation" for e in entries):
                    return
            except Exception:  # the webserver is restarting or not answering yet
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"code location not loaded within {timeout} s")
            time.sleep(0.5)

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """The clawdata CLI on the host, pointed at this stack's webserver."""
        return subprocess.run(self._cli_argv(args), env=self._cli_env(), capture_output=True, text=True, timeout=timeout)

    def cli_started(self, *args: str) -> subprocess.Popen:
        """The same, running in the background; stdout and stderr together, line by line."""
        return subprocess.Popen(self._cli_argv(args), env=self._cli_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)

    def _cli_argv(self, args) -> list[str]:
        return [str(Path(os.sys.executable).parent / "clawdata"), "dagster", *args]

    def _cli_env(self) -> dict[str, str]:
        return {**os.environ, "CLAWDATA_DAGSTER_URL": self.url, "NO_COLOR": "1"}

    def in_user_code_image(self, *command: str, volumes_ro: bool = True) -> str:
        """Run a command in a throwaway container of the user-code image with the stack's volumes."""
        mode = ":ro" if volumes_ro else ""
        result = subprocess.run(
            ["docker", "run", "--rm", "-v", f"{self.name}_warehouse:/var/lib/clawdata/warehouse{mode}",
             "-v", f"{self.name}_inbox:/var/lib/clawdata/inbox{mode}", self.user_code_image, *command],
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def warehouse_counts(self, tables: list[str]) -> dict[str, int]:
        """Row counts read from the warehouse volume, as an outside reader (waits out a writer)."""
        script = (
            "import json, sys; from clawdata.warehouse.readers import read_only\n"
            "with read_only('/var/lib/clawdata/warehouse/warehouse.duckdb', timeout=120) as c:\n"
            f"    print(json.dumps({{t: c.execute(f'SELECT count(*) FROM {{t}}').fetchone()[0] for t in {tables!r}}}))"
        )
        return json.loads(self.in_user_code_image("python", "-c", script).strip().splitlines()[-1])

    def diagnostics(self) -> str:
        ps = self.compose("ps", "-a", check=False).stdout
        logs = self.compose("logs", "--no-color", "--tail", "400", check=False).stdout
        # The sensor daemon logs two lines every 5 s in this stack: without them the tail shows events.
        logs = "\n".join(line for line in logs.splitlines() if "SensorDaemon" not in line)
        return f"--- docker compose ps ---\n{ps}\n--- logs (without SensorDaemon lines) ---\n{logs}"

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
        leftovers = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.clawdata.stack={self.name}"], capture_output=True, text=True
        ).stdout.split()
        if leftovers:  # run containers are removed on exit; a killed one may remain
            subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True)
        # Only the tags go: the layers are shared with every other build and stay cached.
        subprocess.run(["docker", "rmi", self.user_code_image, self.dagster_image], capture_output=True)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, request):
    if not docker_available():
        if IN_CI:
            pytest.fail("CI=true but no Docker engine with Compose v2 is available: .ci/run must provision it")
        pytest.skip("no Docker engine with Compose v2 (set CI=true to make this a failure)")
    s = Stack(tmp_path_factory.mktemp("stack"))
    request.config.stash[STACK_KEY] = s
    try:
        s.compose("build", timeout=1800)
        s.cold_start_seconds = s.up()
        yield s
    except BaseException:
        print(s.diagnostics())
        raise
    finally:
        s.down()


STACK_KEY = pytest.StashKey[Stack]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    stack = item.config.stash.get(STACK_KEY, None)
    if report.when == "call" and report.failed and stack is not None:
        report.sections.append(("docker compose", stack.diagnostics()))
    return report
