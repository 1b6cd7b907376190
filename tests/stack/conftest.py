"""The real Compose stack, brought up once per test session under a unique project name.

Everything a user's `make up` does (tests/stack/harness.py: build the images, an env file with a random
password, `docker compose up --wait`, the code location loaded). The stack is built from a copy of the
repository with what a team adds (tests/stack/extras/): a declared source of its own (JSON lines) and
a table of its database as a source (a database `crm` in the stack's Postgres server, created here
before anything runs), with gold models over both. On a test failure the services' state and logs are
printed; at the end everything is removed, volumes too.
"""

import os
import secrets
import shutil
from pathlib import Path

import pytest

from tests.stack.harness import ROOT, ComposeStack, docker_problem, remove_stale_stacks
from tests.stack.inbox import wait_for_first_sensor_tick
from tests.stack.runs import wait_until_idle

EXTRAS = Path(__file__).parent / "extras"
# What compose and the Makefile read (deploy/ whole: the scripts and the proxy), then what the images
# are built from, read from the .dockerignore itself so a new build input cannot be left behind.
REPOSITORY = ["Makefile", "Dockerfile", "docker-compose.yml", ".dockerignore", "deploy"]
_BUILD_INPUTS = [line[1:].strip().lstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
                 if line.startswith("!")]
REPOSITORY += [entry for entry in _BUILD_INPUTS if entry.split("/")[0] not in REPOSITORY]
CRM_PASSWORD = secrets.token_urlsafe(16)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The daemon must really run the schedule and the sensor within a test's patience. The schedule starts
# stopped: a run a minute from the first minute on would queue faster than this machine drains it;
# the tests that need it turn it on as an operator does, and off again.
TEST_SETTINGS = {"CLAWDATA_DAILY_CRON": "* * * * *", "CLAWDATA_DAILY_SCHEDULE": "stopped",
                 "CLAWDATA_SENSOR_INTERVAL_SECONDS": "5",
                 # test_operations holds a run before its replica publish while this file exists
                 "CLAWDATA_HOLD_BEFORE_PUBLISH": "/var/lib/clawdata/inbox/.hold-before-publish"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory, request):
    problem = docker_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but {problem}: .ci/run must provision Docker with Compose v2")
        pytest.skip(f"{problem} (set CI=true to make this a failure)")
    stale = [n for prefix in ("clawdata-e2e", "clawdata-other") for n in remove_stale_stacks(prefix)]
    if stale:
        print(f"removed the stacks of earlier test sessions that are gone: {', '.join(stale)}")
    workdir = tmp_path_factory.mktemp("stack")
    repo = team_repository(workdir / "repo")
    s = ComposeStack("clawdata-e2e", workdir, {**TEST_SETTINGS, "CLAWDATA_SOURCE_ACCOUNTS_PASSWORD": CRM_PASSWORD}, repo=repo)
    request.config.stash[STACK_KEY] = s
    try:
        s.build()
        s.compose("up", "-d", "--wait", "postgres")
        create_crm_database(s)
        s.cold_start_seconds = s.up()
        # A fresh deployment fills itself (the inbox sensor's first tick and its run): every test
        # starts after that, so none catches the first run instead of its own.
        wait_for_first_sensor_tick(s, timeout=300)
        wait_until_idle(s.graphql, timeout=1200)
        yield s
    except BaseException:
        print(s.diagnostics())
        raise
    finally:
        s.cleanup()


def team_repository(target: Path) -> Path:
    """This repository's build inputs, plus what a team adds (tests/stack/extras)."""
    for name in REPOSITORY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("target", "logs", "__pycache__", "*.egg-info"))
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    shutil.copytree(EXTRAS, target, dirs_exist_ok=True)
    return target


def create_crm_database(stack: ComposeStack) -> None:
    """The team's database, in the stack's Postgres server (reached by name on the compose network)."""
    stack.compose("exec", "-T", "postgres", "psql", "-v", "ON_ERROR_STOP=1", "-U", "dagster", "-d", "dagster", input=(
        f"CREATE ROLE crm_reader LOGIN PASSWORD '{CRM_PASSWORD}';\nCREATE DATABASE crm OWNER crm_reader;\n"))
    stack.compose("exec", "-T", "-e", f"PGPASSWORD={CRM_PASSWORD}", "postgres", "psql", "-v", "ON_ERROR_STOP=1",
                  "-h", "127.0.0.1", "-U", "crm_reader", "-d", "crm", input=(
        "CREATE TABLE accounts (account_id integer PRIMARY KEY, plan text, updated_at timestamp NOT NULL);\n"
        "INSERT INTO accounts SELECT g, CASE WHEN g % 4 = 0 THEN 'pro' ELSE 'basic' END, "
        "timestamp '2026-11-01' + g * interval '1 minute' FROM generate_series(1, 40) g;\n"))


STACK_KEY = pytest.StashKey[ComposeStack]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    stack = item.config.stash.get(STACK_KEY, None)
    if report.when == "call" and report.failed and stack is not None:
        report.sections.append(("docker compose", stack.diagnostics()))
    return report
