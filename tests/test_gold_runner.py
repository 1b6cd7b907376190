"""dbt run in-process by gold/runner.py, on a one-model project: what it does beside the build."""

import io
from contextlib import redirect_stdout

import duckdb
import pytest

from clawdata.gold import project as gold_project, runner
from clawdata.warehouse.readers import read_only
from tests.test_warehouse_readers import hold_lock


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A dbt project of one model on its own warehouse, with clawdata's generated profile."""
    project_dir = tmp_path / "project"
    (project_dir / "models").mkdir(parents=True)
    (project_dir / "dbt_project.yml").write_text("name: tiny\nversion: '1.0'\nprofile: theirs\n")
    (project_dir / "models" / "answer.sql").write_text("select 42 as answer")
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    monkeypatch.setenv("CLAWDATA_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.delenv("CLAWDATA_DBT_PROFILES_DIR", raising=False)
    project = gold_project.load(project_dir)
    with gold_project.parsed_privately(project) as (_, manifest):
        return warehouse, lambda: runner.DbtBuild(manifest, project_dir, project.profiles_dir, project.target, ["answer"])


def test_dbt_waits_out_a_reader_holding_the_warehouse(tiny):
    """A reader outside Dagster (a query, a reconcile, a test polling) may hold the file the moment a
    gold step's dbt opens it: dbt waits (the generated profile's retries), as the Python steps'
    DuckDBResource does. A stack run once failed on it: `Could not set lock on file`."""
    warehouse, new_build = tiny
    reader = hold_lock(warehouse, 5, mode="r")  # from before dbt starts (it opens the file within ~2 s)
    try:
        build = new_build()
        results = [event["data"]["status"] for event in build]
    finally:
        reader.kill()
    assert build.success and results == ["OK"], (build.error, build.node_errors)
    with read_only(warehouse) as conn:
        assert conn.execute("select answer from answer").fetchone() == (42,)


def test_dbt_log_lines_go_to_the_step_output_whatever_stdout_is_later(tiny):
    """dbt prints from its own thread while the step's events are handled elsewhere: every line goes
    to the stdout the step began with (what Dagster captures for it), not to whatever sys.stdout is
    when the line comes. The CLI points sys.stdout at the step's capture only while the step runs,
    and dbt's lines once leaked between the CLI's own."""
    _, new_build = tiny
    step, elsewhere = io.StringIO(), io.StringIO()
    build = new_build()
    with redirect_stdout(step):
        events = iter(build)
        first = next(events)
    with redirect_stdout(elsewhere):
        rest = list(events)
    assert build.success and [first, *rest]
    assert "Completed successfully" in step.getvalue(), step.getvalue()
    assert elsewhere.getvalue() == ""


def test_a_failed_models_sql_is_in_the_output_and_where_dbt_says_it_is(tmp_path, monkeypatch):
    """dbt ends a failure with "compiled code at PATH". The build's target folder is private and
    removed after it: the path named is the project's target path (where `dbt build` keeps it, and
    where the SQL is copied), and the SQL itself follows in the output, for the UI and a run container
    that is gone by the time someone reads it."""
    project_dir = tmp_path / "project"
    (project_dir / "models").mkdir(parents=True)
    (project_dir / "dbt_project.yml").write_text("name: tiny\nversion: '1.0'\nprofile: theirs\n")
    (project_dir / "models" / "broken.sql").write_text("select no_such_column from (select 1 as answer)")
    monkeypatch.setenv("CLAWDATA_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("CLAWDATA_DBT_PROFILES_DIR", raising=False)
    project = gold_project.load(project_dir)
    with gold_project.parsed_privately(project) as (_, manifest):
        pass
    build = runner.DbtBuild(manifest, project_dir, project.profiles_dir, project.target, ["broken"], keep_compiled_in=project_dir / "target")
    out = io.StringIO()
    with redirect_stdout(out):
        assert [e["data"]["status"] for e in build] == ["error"]
    kept = project_dir / "target" / "compiled" / "tiny" / "models" / "broken.sql"
    assert f"compiled code at {kept}" in out.getvalue(), out.getvalue()
    assert "    | select no_such_column from (select 1 as answer)" in out.getvalue(), out.getvalue()
    assert "no_such_column" in kept.read_text()


def test_a_microbatch_model_builds_on_the_load_time_parse(tmp_path, monkeypatch):
    """A microbatch model's `begin` is a datetime in dbt's parse state (a msgpack extension type): read
    with dbt's own decoder, the build runs its batches; read without it, dbt failed on
    "'ExtType' object has no attribute 'year'"."""
    project_dir = tmp_path / "project"
    (project_dir / "models").mkdir(parents=True)
    (project_dir / "dbt_project.yml").write_text("name: batches\nversion: '1.0'\nprofile: theirs\n")
    (project_dir / "models" / "events.sql").write_text(
        "{{ config(event_time='happened_at') }}\nselect timestamp '2025-03-01 10:00' as happened_at, 1 as n "
        "union all select timestamp '2026-02-01 10:00', 2")
    (project_dir / "models" / "per_year.sql").write_text(
        "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='happened_at', "
        "begin='2025-01-01', batch_size='year') }}\nselect happened_at, n from {{ ref('events') }}")
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CLAWDATA_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.delenv("CLAWDATA_DBT_PROFILES_DIR", raising=False)
    project = gold_project.load(project_dir)
    gold_project.prepare_if_stale(project, sources=[])
    manifest = runner.load_manifest(project)
    assert manifest.nodes["model.batches.per_year"].config.begin.year == 2025
    build = runner.DbtBuild(manifest, project.project_dir, project.profiles_dir, project.target, ["events", "per_year"])
    results = [event["data"]["status"] for event in build]
    assert build.success and len(results) == 2, (build.error, build.node_errors, results)
    with read_only(warehouse) as conn:
        assert conn.execute("select sum(n) from per_year").fetchone() == (3,)
