"""One Compose stack under a name of its own: what the stack tests (tests/stack/) and the benchmark
(benchmarks/stack.py) both drive.

Everything a user's `make up` does, isolated: the project name, the UI port, the image tags and a
random Postgres password are this stack's own (written to an env file of its own), so stacks can share
a Docker engine with each other and with the user's `make up`. Base images and a CA bundle are taken
from the repository's `.env` when it names them (`make images-offline`, a TLS-intercepting proxy).
`cleanup()` removes everything the stack made: containers (run containers too), volumes, network and
image tags (the layers stay cached for the next build).
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from clawdata.cli.graphql import LOCATION, HttpGraphQL

ROOT = Path(__file__).resolve().parents[1]
# Settings of the repository's .env that describe this machine rather than one deployment.
MACHINE_SETTINGS = ("PYTHON_BASE_IMAGE", "POSTGRES_IMAGE", "CLAWDATA_CA_BUNDLE")
# Who owns each stack: a file per stack holding its process id. A stack whose owner is gone (a killed
# test session: its services restart with the engine, `restart: unless-stopped`) is swept away by the
# next one, so that it does not load the machine under the next session's tests.
OWNERS = Path(tempfile.gettempdir()) / "clawdata-stack-owners"
# Compose labels its services with the project; clawdata labels its run containers with the stack.
STACK_LABELS = ("com.docker.compose.project", "com.clawdata.stack")
WORKSPACE = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


class StackError(AssertionError):
    """The stack did not do what was asked (an AssertionError, so pytest reports it as a failure)."""


def docker_problem() -> str | None:
    """None if a Docker engine with Compose v2 answers here, else why not."""
    if shutil.which("docker") is None:
        return "no docker client"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        return "no Docker engine answering (deploy/provision-docker.sh starts one)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode != 0:
        return "no Compose v2 plugin"
    return None


def _docker_lines(*args: str) -> list[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True).stdout.split()


def remove_stale_stacks(prefix: str) -> list[str]:
    """Remove every `prefix-*` stack whose owning process is gone (or that has no owner file, from
    before owners were recorded): containers (run containers too), volumes, networks, image tags."""
    names = set()
    for label in STACK_LABELS:
        names |= set(_docker_lines("ps", "-a", "--format", f'{{{{.Label "{label}"}}}}', "--filter", f"label={label}"))
    names |= {v.rsplit("_", 1)[0] for v in _docker_lines("volume", "ls", "--format", "{{.Name}}")}
    names |= {t.rsplit(":", 1)[1] for t in _docker_lines("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
              if t.startswith("clawdata/")}
    stale = sorted(n for n in names if n.startswith(f"{prefix}-") and not _owner_alive(n))
    for name in stale:
        _remove_stack(name, images=True)
    return stale


def stack_images(name: str) -> tuple[str, str]:
    """The image tags of stack `name` (user code, then webserver and daemon)."""
    return f"clawdata/user-code:{name}", f"clawdata/dagster:{name}"


def _remove_stack(name: str, images: bool) -> None:
    """Whatever is left of stack `name`: containers of either label, volumes, networks, its owner
    file, and (`images`) its image tags; the layers stay cached."""
    for label in STACK_LABELS:
        ids = _docker_lines("ps", "-aq", "--filter", f"label={label}={name}")
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    for kind in ("volume", "network"):
        found = [n for n in _docker_lines(kind, "ls", "--format", "{{.Name}}") if n.startswith(f"{name}_")]
        if found:
            subprocess.run(["docker", kind, "rm", *found], capture_output=True)
    if images:
        subprocess.run(["docker", "image", "rm", *stack_images(name)], capture_output=True)
    (OWNERS / name).unlink(missing_ok=True)


def _owner_alive(name: str) -> bool:
    try:
        os.kill(int((OWNERS / name).read_text()), 0)
        return True
    except (OSError, ValueError):  # no file, or no such process
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine_settings(repo: Path = ROOT) -> dict[str, str]:
    env, values = repo / ".env", {}
    if env.exists():
        for line in env.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() in MACHINE_SETTINGS:
                values[key.strip()] = value.strip()
    return values


class ComposeStack:
    def __init__(self, prefix: str, workdir: Path, settings: dict[str, str] | None = None, repo: Path = ROOT):
        self.repo = repo
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        OWNERS.mkdir(exist_ok=True)
        (OWNERS / self.name).write_text(str(os.getpid()))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Own image tags: run containers start from the tag, so a shared `latest` rebuilt by someone
        # else meanwhile would change the code under this stack's runs.
        self.user_code_image, self.dagster_image = stack_images(self.name)
        self.settings = {
            **machine_settings(ROOT),  # this machine's, whatever repository copy is built
            "CLAWDATA_STACK": self.name,
            "CLAWDATA_USER_CODE_IMAGE": self.user_code_image,
            "CLAWDATA_DAGSTER_IMAGE": self.dagster_image,
            "CLAWDATA_UI_BIND": "127.0.0.1",
            "CLAWDATA_UI_PORT": str(self.port),
            "DAGSTER_POSTGRES_PASSWORD": secrets.token_urlsafe(18),
            "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid) if os.path.exists("/var/run/docker.sock") else "0",
            **(settings or {}),
        }
        self.settings["CLAWDATA_ENV_FILE"] = str(workdir / f"{self.name}.env")  # what the daemon and code server read
        workdir.mkdir(parents=True, exist_ok=True)
        self.env_file = workdir / f"{self.name}.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))
        self.env_file.chmod(0o600)
        # The caller's own stack settings must not leak in: the env file is the whole configuration.
        self._env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDATA_", "DAGSTER_", "COMPOSE_", "DBT_"))}
        self.graphql = HttpGraphQL(self.url, timeout=60)
        self.built = False

    def compose_command(self) -> str:
        """The compose invocation of this stack, for scripts that take one (COMPOSE=... make, deploy/backup.sh)."""
        return (f"docker compose --project-directory {self.repo} -f {self.repo / 'docker-compose.yml'} "
                f"--env-file {self.env_file}")

    def script_env(self) -> dict[str, str]:
        """The environment for the repository's scripts against this stack (no caller's settings)."""
        return {**self._env, "COMPOSE": self.compose_command()}

    def compose(self, *args: str, check: bool = True, timeout: float = 900, capture: bool = True,
                input: str | None = None) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "--project-directory", str(self.repo), "-f", str(self.repo / "docker-compose.yml"),
               "--env-file", str(self.env_file), *args]
        result = subprocess.run(cmd, cwd=self.repo, env=self._env, capture_output=capture, text=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise StackError(f"docker compose {' '.join(args)} failed ({result.returncode}):\n"
                             f"{(result.stdout or '')[-2000:]}\n{(result.stderr or '')[-2000:]}")
        return result

    def build(self) -> float:
        started = time.perf_counter()
        self.compose("build", timeout=3600)
        self.built = True
        return time.perf_counter() - started

    def up(self) -> float:
        """`up --wait`, then until the webserver has loaded the code location. Returns seconds."""
        started = time.monotonic()
        self.compose("up", "-d", "--wait", "--wait-timeout", "300", timeout=400)
        self.wait_until_loaded()
        return time.monotonic() - started

    def wait_until_loaded(self, timeout: float = 120, poll: float = 0.1) -> float:
        """Until the webserver reports the code location loaded; returns that moment (time.time())."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                for entry in self.graphql(WORKSPACE)["workspaceOrError"].get("locationEntries") or []:
                    loaded = entry.get("locationOrLoadError") or {}
                    if entry["name"] == LOCATION and entry["loadStatus"] == "LOADED":
                        if loaded.get("__typename") == "PythonError":
                            raise StackError(f"code location failed to load: {loaded.get('message', '')[:1500]}")
                        if loaded:
                            return time.time()
            except StackError:
                raise
            except Exception:  # the webserver is starting or restarting
                pass
            if time.monotonic() > deadline:
                raise StackError(f"code location not loaded within {timeout} s")
            time.sleep(poll)

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
             "-v", f"{self.name}_inbox:/var/lib/clawdata/inbox{mode}",
             "-v", f"{self.name}_replica:/var/lib/clawdata/replica{mode}", self.user_code_image, *command],
            capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0:
            raise StackError(f"{' '.join(command)} in the user-code image failed: {result.stderr[-2000:]}")
        return result.stdout

    def warehouse_counts(self, tables: list[str]) -> dict[str, int]:
        """Row counts read from the warehouse volume, as an outside reader (waits out a writer)."""
        script = (
            "import json, sys; from clawdata.warehouse.readers import read_only\n"
            "with read_only('/var/lib/clawdata/warehouse/warehouse.duckdb', timeout=120) as c:\n"
            f"    print(json.dumps({{t: c.execute(f'SELECT count(*) FROM {{t}}').fetchone()[0] for t in {tables!r}}}))"
        )
        return json.loads(self.in_user_code_image("python", "-c", script).strip().splitlines()[-1])

    def warehouse_rows(self, sql: str) -> list[list]:
        """A query's rows, read from the warehouse volume as an outside reader (waits out a writer)."""
        script = (
            "import json; from clawdata.warehouse.readers import read_only\n"
            "with read_only('/var/lib/clawdata/warehouse/warehouse.duckdb', timeout=120) as c:\n"
            f"    print(json.dumps(c.execute({sql!r}).fetchall(), default=str))"
        )
        return json.loads(self.in_user_code_image("python", "-c", script).strip().splitlines()[-1])

    def diagnostics(self) -> str:
        ps = self.compose("ps", "-a", check=False).stdout
        logs = self.compose("logs", "--no-color", "--tail", "400", check=False).stdout
        # The sensor daemon logs two lines every few seconds: without them the tail shows events.
        logs = "\n".join(line for line in logs.splitlines() if "SensorDaemon" not in line)
        return f"--- docker compose ps ---\n{ps}\n--- logs (without SensorDaemon lines) ---\n{logs}"

    def down(self, volumes: bool = False) -> float:
        started = time.perf_counter()
        self.compose("--profile", "*", "down", *(["-v"] if volumes else []), "--remove-orphans", "--timeout", "30",
                     check=False, timeout=300)
        return time.perf_counter() - started

    def cleanup(self) -> None:
        """Remove everything of this stack, on any path out (run containers are not compose's: they go
        first, so that `down` can remove the network)."""
        run_containers = _docker_lines("ps", "-aq", "--filter", f"label=com.clawdata.stack={self.name}")
        if run_containers:
            subprocess.run(["docker", "rm", "-f", *run_containers], capture_output=True)
        self.down(volumes=True)
        _remove_stack(self.name, images=self.built)
        self.env_file.unlink(missing_ok=True)
