"""The real Compose stack, brought up once per test session under a unique project name.

Everything a user's `make up` does (tests/stack/harness.py: build the images, an env file with a random
password, `docker compose up --wait`, the code location loaded). On a test failure the services' state
and logs are printed; at the end everything is removed, volumes too.
"""

import os

import pytest

from tests.stack.harness import ComposeStack, docker_problem

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The daemon must really run the schedule and the sensor within a test's patience. The schedule starts
# stopped: a run a minute from the first minute on would queue faster than this machine drains it;
# the tests that need it turn it on as an operator does, and off again.
TEST_SETTINGS = {"CLAWDATA_DAILY_CRON": "* * * * *", "CLAWDATA_DAILY_SCHEDULE": "stopped",
                 "CLAWDATA_SENSOR_INTERVAL_SECONDS": "5"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory, request):
    problem = docker_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but {problem}: .ci/run must provision Docker with Compose v2")
        pytest.skip(f"{problem} (set CI=true to make this a failure)")
    s = ComposeStack("clawdata-e2e", tmp_path_factory.mktemp("stack"), TEST_SETTINGS)
    request.config.stash[STACK_KEY] = s
    try:
        s.build()
        s.cold_start_seconds = s.up()
        yield s
    except BaseException:
        print(s.diagnostics())
        raise
    finally:
        s.cleanup()


STACK_KEY = pytest.StashKey[ComposeStack]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    stack = item.config.stash.get(STACK_KEY, None)
    if report.when == "call" and report.failed and stack is not None:
        report.sections.append(("docker compose", stack.diagnostics()))
    return report
