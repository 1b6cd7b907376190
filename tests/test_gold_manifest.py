"""The Dagster-free gold core's versions (src/clawdata/gold/manifest.py) on manifests shaped like
real projects', in-process: macros that call each other in a cycle (dbt-duckdb's duckdb__datediff
and dbt's datediff dispatch to each other, reached by dbt_utils.date_spine and dbt_date) load, and an
edit anywhere in the cycle changes the version of every model that reaches it."""

from pathlib import Path

from clawdata.gold.manifest import versions


def manifest(datediff_sql: str) -> dict:
    macro = lambda uid, sql, calls: {"unique_id": uid, "macro_sql": sql, "depends_on": {"macros": calls}}  # noqa: E731
    return {
        "macros": {
            "macro.dbt.datediff": macro("macro.dbt.datediff", "{{ adapter.dispatch('datediff') }}",
                                        ["macro.dbt_duckdb.duckdb__datediff"]),
            "macro.dbt_duckdb.duckdb__datediff": macro("macro.dbt_duckdb.duckdb__datediff", datediff_sql,
                                                       ["macro.dbt.datediff"]),
            "macro.shop.days": macro("macro.shop.days", "{{ dbt.datediff(a, b, 'day') }}", ["macro.dbt.datediff"]),
        },
        "nodes": {
            "model.shop.spine": {"unique_id": "model.shop.spine", "resource_type": "model", "name": "spine",
                                 "package_name": "shop", "raw_code": "select {{ days() }}",
                                 "depends_on": {"macros": ["macro.shop.days"], "nodes": []}, "config": {}},
            "model.shop.plain": {"unique_id": "model.shop.plain", "resource_type": "model", "name": "plain",
                                 "package_name": "shop", "raw_code": "select 1",
                                 "depends_on": {"macros": [], "nodes": []}, "config": {}},
        },
    }


def test_macros_calling_each_other_in_a_cycle(tmp_path: Path):
    before = versions(manifest("date_diff('day', a, b)"), tmp_path)
    after = versions(manifest("date_diff('day', a, b) + 0"), tmp_path)
    assert before["model.shop.spine"] != after["model.shop.spine"]  # an edit inside the cycle is seen
    assert before["model.shop.plain"] == after["model.shop.plain"]


def test_a_run_reads_the_load_time_parse_from_any_working_directory(tmp_path: Path, monkeypatch):
    """The gold step runs dbt on the manifest the code location's load-time parse left, wherever the
    process was started (the CLI from any folder, the code server in /opt/clawdata). The target path
    was once read relative to the working directory: every run parsed the project again (2-5 s)."""
    import pytest

    from clawdata.gold import project as gold_project, runner

    project = gold_project.load()
    gold_project.prepare_if_stale(project)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "parse", lambda *_: pytest.fail("the project was parsed again"))
    assert "model.clawdata.dim_customers" in runner.load_manifest(project).nodes
