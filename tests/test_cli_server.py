"""The tests' fork server (tests/cli_server.py) runs `clawdata` as a new process does: the same
output, exit status and environment, each call with its own."""

import subprocess

import pytest

from tests.conftest import CLAWDATA, ROOT, _CLI_SERVER, make_project, run_cli


def _new_process(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLAWDATA), *args], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.mark.parametrize("args", [
    ("--version",),
    ("dagster", "status"),  # nothing built yet
    ("dagster", "materialize", "no_such_asset"),  # a usage error: its message and exit status
    ("dagster", "logs", "nonexistent"),
    ("sql", "SELECT 1"),  # no replica yet: an error naming where it looked
])
def test_a_forked_command_says_and_exits_as_a_new_process(args, tmp_path):
    env = make_project(tmp_path)["env"]
    assert _CLI_SERVER.serves(env)
    forked, new = run_cli(env, *args), _new_process(env, *args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (new.returncode, new.stdout, new.stderr)


def test_each_call_has_its_own_environment(tmp_path):
    """One server, calls alternating between two projects: each reads its own warehouse's path."""
    first, second = make_project(tmp_path / "a"), make_project(tmp_path / "b")
    for paths in (first, second, first, second):
        said = run_cli(paths["env"], "sql", "SELECT 1")
        assert said.returncode != 0 and f"no replica at {paths['warehouse'].parent / 'replica'}" in said.stderr, said.stderr


def test_a_call_whose_imports_would_differ_is_a_new_process(tmp_path):
    env = make_project(tmp_path)["env"]
    run_cli(env, "--version")  # the server started
    assert not _CLI_SERVER.serves({**env, "DAGSTER_DISABLE_TELEMETRY": "x"})
    assert not _CLI_SERVER.serves({**env, "PYTHONWARNINGS": "error"})
    assert _CLI_SERVER.serves({**env, "CLAWDATA_WAREHOUSE_PATH": str(tmp_path / "other.duckdb")})


def test_a_command_over_its_time_is_killed(tmp_path):
    env = make_project(tmp_path)["env"]
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli(env, "dagster", "materialize", "--all", timeout=1)
