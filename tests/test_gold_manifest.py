"""The Dagster-free gold core's versions (src/clawdata/gold/manifest.py) on manifests shaped like
real projects', in-process: macros that call each other in a cycle (dbt-duckdb's duckdb__datediff
and dbt's datediff dispatch to each other, reached by dbt_utils.date_spine and dbt_date) load, and an
edit anywhere in the cycle changes the version of every model that reaches it."""

import json
from pathlib import Path

from clawdata.gold.manifest import versions, volatile


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
    with monkeypatch.context() as patched:
        patched.setattr(gold_project, "parsed_privately", lambda *_: pytest.fail("the project was parsed again"))
        assert "model.clawdata.dim_customers" in runner.load_manifest(project).nodes
    # Without dbt's state (a project parsed elsewhere), the run parses it, privately: target/ unchanged.
    target = project.manifest_path.parent
    state = (target / "partial_parse.msgpack").read_bytes()  # (the worker's project: put back after)
    (target / "partial_parse.msgpack").unlink()
    try:
        manifest_before = project.manifest_path.read_bytes()
        assert "model.clawdata.dim_customers" in runner.load_manifest(project).nodes
        assert project.manifest_path.read_bytes() == manifest_before and not (target / "partial_parse.msgpack").exists()
        assert not list(target.glob(".clawdata-parse-*"))
    finally:
        (target / "partial_parse.msgpack").write_bytes(state)


def test_nodes_that_read_the_clock_chance_or_a_file_are_volatile():
    """What `dbt build` reads afresh each time, seen in a node's SQL, the macros it reaches (a cycle
    included) and the ephemeral models inlined into it; a column named like a clock is not."""
    def node(uid, sql, macros=(), nodes=(), materialized="table"):
        return {"unique_id": uid, "resource_type": "model", "raw_code": sql, "config": {"materialized": materialized},
                "depends_on": {"macros": list(macros), "nodes": list(nodes)}}

    found = manifest("now()")  # dbt-duckdb's datediff made to read the clock, reached through a cycle
    found["nodes"] |= {n["unique_id"]: n for n in [
        node("model.shop.today", "select current_date as day"),
        node("model.shop.sampled", "select * from t where random() < 0.1"),
        node("model.shop.external", "select * from read_csv('exports/*.csv')"),
        node("model.shop.stamped", "select '{{ run_started_at }}' as built_at"),
        node("model.shop.clock_inline", "select now () as at", materialized="ephemeral"),
        node("model.shop.reads_inline", "select * from {{ ref('clock_inline') }}", nodes=["model.shop.clock_inline"]),
        node("model.shop.named_like_it", "select my_current_date, updated_at as current_dates, nowhere from t"),
        node("model.shop.reads_a_table_of_it", "select * from {{ ref('today') }}", nodes=["model.shop.today"]),
        node("model.shop.says_it_in_comments", "{# current_date #} select 1 -- rows until now (daily)\n/* random() */"),
        node("model.shop.file_by_name", "select * from 'exports/orders_*.parquet'"),
        node("model.shop.python_clock", "select '{{ modules.datetime.datetime.utcnow() }}' as at"),
        node("model.shop.external_source", "select * from {{ source('files', 'orders') }}", nodes=["source.shop.files.orders"]),
        {**node("model.shop.said_stable", "select * from {{ dbt_date.get_date_dimension('2020-01-01', '2030-12-31') }}"),
         "config": {"materialized": "table", "meta": {"clawdata": {"volatile": False}}}, "raw_code": "select current_date"},
        {**node("model.shop.said_volatile", "select * from other_tools_table"),
         "config": {"materialized": "table", "meta": {"clawdata": {"volatile": True}}}},
        # Python reads what it pleases (open(), an API): every Python model, unless it says otherwise
        {**node("model.shop.python_model", "def model(dbt, session):\n    return session.sql(open('x.sql').read())"),
         "language": "python"},
        {**node("model.shop.python_said_stable", "def model(dbt, session):\n    return dbt.ref('today')"),
         "language": "python", "config": {"materialized": "table", "meta": {"clawdata": {"volatile": False}}}},
    ]}
    found["sources"] = {"source.shop.files.orders": {"meta": {"external_location": "exports/{name}.parquet"}}}
    assert volatile(found) == {"model.shop.spine", "model.shop.today", "model.shop.sampled", "model.shop.external",
                               "model.shop.stamped", "model.shop.clock_inline", "model.shop.reads_inline",
                               "model.shop.file_by_name", "model.shop.python_clock", "model.shop.external_source",
                               "model.shop.said_volatile", "model.shop.python_model"}


def test_persisted_descriptions_and_a_var_reading_the_environment_are_part_of_a_version(tmp_path: Path):
    """With `persist_docs` on, dbt writes descriptions into the warehouse: editing one changes the
    table (without it, a description is documentation alone). A var whose value in dbt_project.yml
    is `{{ env_var('X') }}` changes with X, as the model reading the var does."""
    def node(description: str, persist: dict | None) -> dict:
        return {"unique_id": "model.p.m", "resource_type": "model", "name": "m", "package_name": "p",
                "raw_code": "select '{{ var(\"label\") }}' as label", "description": description,
                "columns": {"label": {"name": "label", "description": description}},
                "depends_on": {"macros": [], "nodes": []}, "config": {"persist_docs": persist or {}}}

    def version(description: str, persist: dict | None = None, label: str = "a") -> str:
        project_vars = {"label": "{{ env_var('LABEL', 'none') }}"}
        return versions({"nodes": {"model.p.m": node(description, persist)}}, tmp_path, project_vars,
                        environ={"LABEL": label})["model.p.m"]

    assert version("one") == version("two")  # documentation alone
    assert version("one", {"columns": True}) != version("two", {"columns": True})
    assert version("one", {"relation": True}) != version("two", {"relation": True})
    assert version("one", {"relation": True}) != version("one")  # turning it on writes the comments
    assert version("one", label="a") != version("one", label="b")


def test_a_projects_own_materialization_is_part_of_the_models_it_builds(tmp_path: Path):
    """dbt does not list a node's materialization among the macros it depends on: an edit to a
    project's own one (`{% materialization stamped, adapter='duckdb' %}`) rebuilds the models using it."""
    def manifest(stamp: str) -> dict:
        return {
            "macros": {"macro.p.materialization_stamped_duckdb": {
                "unique_id": "macro.p.materialization_stamped_duckdb", "name": "materialization_stamped_duckdb",
                "package_name": "p", "macro_sql": f"... '{stamp}' as stamp ...", "depends_on": {"macros": []}}},
            "nodes": {uid: {"unique_id": uid, "resource_type": "model", "name": uid[8:], "package_name": "p",
                            "raw_code": "select 1", "depends_on": {"macros": [], "nodes": []},
                            "config": {"materialized": materialized}}
                      for uid, materialized in (("model.p.c", "stamped"), ("model.p.t", "table"))},
        }

    before, after = versions(manifest("v1"), tmp_path), versions(manifest("v2"), tmp_path)
    assert before["model.p.c"] != after["model.p.c"] and before["model.p.t"] == after["model.p.t"]


def test_an_override_of_a_dispatched_macro_is_part_of_the_models_calling_it(tmp_path: Path):
    """`dbt.date_trunc` dispatches: a project's own `duckdb__date_trunc` (or a package's) replaces
    dbt's, though dbt lists only `macro.dbt.date_trunc` under the model. Adding or editing one rebuilds
    the models calling it; a model that does not call it keeps its version. (An outsider's override
    was ignored: `SUCCESS` with every order's date untruncated.)"""
    def manifest(*overrides: str) -> dict:
        macros = {
            "macro.dbt.date_trunc": {"name": "date_trunc", "package_name": "dbt", "depends_on": {"macros": []},
                                     "macro_sql": "{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}"},
            "macro.dbt.default__date_trunc": {"name": "default__date_trunc", "package_name": "dbt",
                                              "depends_on": {"macros": []}, "macro_sql": "date_trunc('{{ datepart }}', {{ date }})"},
            **{f"macro.p.duckdb__date_trunc": {"name": "duckdb__date_trunc", "package_name": "p", "depends_on": {"macros": []},
                                               "macro_sql": sql} for sql in overrides},
        }
        nodes = {uid: {"unique_id": uid, "resource_type": "model", "name": uid[8:], "package_name": "p", "raw_code": "select 1",
                       "depends_on": {"macros": called, "nodes": []}, "config": {"materialized": "table"}}
                 for uid, called in (("model.p.orders", ["macro.dbt.date_trunc"]), ("model.p.other", []))}
        return {"macros": {uid: {"unique_id": uid, **m} for uid, m in macros.items()}, "nodes": nodes}

    plain, overridden = versions(manifest(), tmp_path), versions(manifest("date_trunc('month', {{ date }})"), tmp_path)
    edited = versions(manifest("date_trunc('year', {{ date }})"), tmp_path)
    assert len({plain["model.p.orders"], overridden["model.p.orders"], edited["model.p.orders"]}) == 3
    assert plain["model.p.other"] == overridden["model.p.other"] == edited["model.p.other"]


def test_the_projects_flags_are_part_of_every_tests_version(tmp_path: Path):
    """`flags: {warn_error_options: {error: [LogTestResult]}}` in dbt_project.yml makes a warning test
    fail: a flag edit runs the tests again (their kept results stood, warned, where dbt build failed).
    Models keep their versions, and a project without flags keeps every version."""
    manifest = {"nodes": {
        "model.p.m": {"unique_id": "model.p.m", "resource_type": "model", "name": "m", "package_name": "p",
                      "raw_code": "select 1", "depends_on": {"macros": [], "nodes": []}},
        "test.p.t": {"unique_id": "test.p.t", "resource_type": "test", "name": "t", "package_name": "p",
                     "raw_code": "select 1 where false", "depends_on": {"macros": [], "nodes": ["model.p.m"]}}}}
    plain = versions(manifest, tmp_path)
    assert versions(manifest, tmp_path, flags={}) == plain
    strict = versions(manifest, tmp_path, flags={"warn_error_options": {"error": ["LogTestResult"]}})
    assert strict["test.p.t"] != plain["test.p.t"] and strict["model.p.m"] == plain["model.p.m"]


def test_a_var_in_a_generic_tests_arguments_is_part_of_its_version(tmp_path: Path):
    """`accepted_values: {values: "{{ var('customer_types') }}"}`: dbt keeps the arguments unrendered
    in the test's metadata; a changed value runs the test again (its kept result stood, passed, where
    dbt build failed it)."""
    test = {"unique_id": "test.p.t", "resource_type": "test", "name": "t", "package_name": "p", "raw_code": "",
            "depends_on": {"macros": [], "nodes": []},
            "test_metadata": {"name": "accepted_values", "kwargs": {"values": "{{ var('customer_types') }}"}}}
    manifest = {"nodes": {"test.p.t": test}}
    one = versions(manifest, tmp_path, cli_vars={"customer_types": ["new", "returning"]})
    two = versions(manifest, tmp_path, cli_vars={"customer_types": ["new"]})
    assert one["test.p.t"] != two["test.p.t"]


def _model(uid: str, sql: str, macros=(), materialized: str = "table", **extra) -> dict:
    return {"unique_id": uid, "resource_type": "model", "name": uid.split(".")[-1], "package_name": uid.split(".")[1],
            "raw_code": sql, "depends_on": {"macros": list(macros), "nodes": []}, "config": {"materialized": materialized},
            **extra}


def test_what_a_models_sql_reads_besides_refs_is_part_of_its_version(tmp_path: Path):
    """Outsiders' projects read what a node's refs do not show, and kept stale tables: a var named at
    run time (`var(name)`, dbt-project-evaluator's loop), a package's own var default, dbt's `graph`
    (any edit of the project), its own description (`{{ model.description }}`), `target.name`. Each moves the version
    of the node reading it, and of no other."""
    def manifest(description="net", other="select 1") -> dict:
        return {"nodes": {n["unique_id"]: n for n in [
            _model("model.p.by_name", "{% for v in ['a', 'b'] %} select '{{ var(v) }}' {% endfor %}"),
            _model("model.pkg.pkg_model", "select {{ var('pv') }} as pv"),
            _model("model.p.graph_reader", "select {{ graph.nodes | length }} as n"),
            _model("model.p.described", "select '{{ model.description }}' as d", description=description),
            _model("model.p.plain", "select 1 as one"),
            _model("model.p.by_target", "select 1 {% if target.name == 'dev' %} limit 0 {% endif %}"),
            _model("model.p.other", other)]}}

    def version(project_vars=None, package_vars=None, target="prod", **edits) -> dict:
        return versions(manifest(**edits), tmp_path, project_vars or {"a": 1, "b": 2},
                        package_vars=package_vars or {"pkg": {"pv": 1}}, target=target)

    base = version()
    changed = {
        "var named at run time": (version(project_vars={"a": 1, "b": 3}), {"model.p.by_name"}),
        "a package's default": (version(package_vars={"pkg": {"pv": 2}}), {"model.pkg.pkg_model"}),
        # (and a var named at run time may be any var of the project)
        "the project's value wins over it": (version(project_vars={"a": 1, "b": 2, "pv": 5}),
                                             {"model.pkg.pkg_model", "model.p.by_name"}),
        "another model edited": (version(other="select 2"), {"model.p.graph_reader", "model.p.other"}),
        "a description": (version(description="gross"), {"model.p.described", "model.p.graph_reader"}),
        "the profile's target": (version(target="dev"), {"model.p.by_target"}),
    }
    for what, (after, expected) in changed.items():
        assert {uid for uid in base if base[uid] != after[uid]} == expected, what


def test_the_projects_own_macros_a_materialization_runs_are_part_of_its_models(tmp_path: Path):
    """dbt-duckdb's table materialization calls `create_table_as`, which dispatches: a project's own
    `duckdb__create_table_as` is what builds its tables, though no model lists it. Adding or editing
    one rebuilds the tables (and not the views); dbt's own macros count with dbt's version alone."""
    def macro(uid: str, sql: str, calls=()) -> dict:
        return {"unique_id": uid, "name": uid.split(".")[-1], "package_name": uid.split(".")[1], "macro_sql": sql,
                "depends_on": {"macros": list(calls)}}

    def manifest(*override: str) -> dict:
        macros = [macro("macro.dbt_duckdb.materialization_table_duckdb", "{{ create_table_as(false, target, sql) }}",
                        ["macro.dbt.create_table_as"]),
                  macro("macro.dbt.create_table_as", "{{ adapter.dispatch('create_table_as', 'dbt')(t, r, s) }}"),
                  macro("macro.dbt_duckdb.duckdb__create_table_as", "create table {{ r }} as {{ s }}"),
                  macro("macro.dbt.materialization_view_default", "create view ..."),
                  *[macro("macro.p.duckdb__create_table_as", sql) for sql in override]]
        return {"macros": {m["unique_id"]: m for m in macros},
                "nodes": {n["unique_id"]: n for n in [_model("model.p.t", "select 1"),
                                                       _model("model.p.v", "select 1", materialized="view")]}}

    plain, own = versions(manifest(), tmp_path), versions(manifest("create table {{ r }} as {{ s }} limit 1"), tmp_path)
    edited = versions(manifest("create table {{ r }} as {{ s }} limit 2"), tmp_path)
    assert len({plain["model.p.t"], own["model.p.t"], edited["model.p.t"]}) == 3
    assert plain["model.p.v"] == own["model.p.v"] == edited["model.p.v"]


def test_a_file_named_in_double_quotes_or_after_a_comma_is_read_afresh():
    """DuckDB reads `FROM "feed.csv"` and `FROM t, 'feed.csv'` from the file: such a node is volatile;
    a string argument after a comma is not a file."""
    nodes = [_model("model.p.quoted", 'select * from "exports/feed.csv"'),
             _model("model.p.comma", "select * from (select 1) x, 'feed.parquet'"),
             _model("model.p.argument", "select coalesce(name, 'unknown'), \"quoted col\" from t")]
    assert volatile({"nodes": {n["unique_id"]: n for n in nodes}}) == {"model.p.quoted", "model.p.comma"}


def test_an_on_run_start_hook_is_part_of_every_node(tmp_path: Path):
    """An on-run-start hook makes what any node may read (`create or replace macro vat(x) as x * 1.20`):
    an edit to it rebuilds every node, as `dbt build` runs it before them (models kept 120.00 where
    dbt built 125.00). A project without one keeps its versions."""
    def manifest(rate: str | None) -> dict:
        nodes = [_model("model.p.priced", "select vat(100) as gross")]
        if rate:
            nodes.append({**_model("operation.p.p-on-run-start-0", f"create or replace macro vat(x) as x * {rate}"),
                          "resource_type": "operation"})
        return {"nodes": {n["unique_id"]: n for n in nodes}}

    none, low, high = (versions(manifest(r), tmp_path)["model.p.priced"] for r in (None, "1.20", "1.25"))
    assert len({none, low, high}) == 3
    assert versions(manifest(None), tmp_path) == {"model.p.priced": none}


def test_a_table_of_the_project_read_by_its_name_is_read_afresh():
    """`select count(*) from main.s` where `s` is the project's seed: dbt knows no dependency, so no
    version moves when `s` changes, and the model stayed stale for ever. It is read every run; a name
    inside a longer one, a quoted column or its own table are not such reads."""
    nodes = [{**_model("seed.p.s", ""), "resource_type": "seed", "schema": "main"},
             {**_model("model.p.counted", "select count(*) from main.s"), "schema": "main"},
             {**_model("model.p.by_ref", "select * from {{ ref('s') }} where domain.s_x = 1 or \"main.s\" = 1"), "schema": "main"},
             {**_model("model.p.itself", "{{ config(post_hook='analyze main.itself') }} select 1"), "schema": "main"}]
    assert volatile({"nodes": {n["unique_id"]: n for n in nodes}}) == {"model.p.counted"}


def test_a_relation_jinja_names_at_run_time_is_read_afresh():
    """`{{ target.schema }}.orders`, `api.Relation.create(...)`, `adapter.get_relation(...)`: dbt knows
    no dependency on what they name, and such models were never rebuilt. They are read every run, as
    `dbt build` does; `is_incremental()` (which asks about the model itself, in a macro) is not such a read."""
    nodes = [_model("model.p.by_target", "select count(*) from {{ target.schema }}.orders"),
             _model("model.p.created", "{% set r = api.Relation.create(schema=target.schema, identifier='orders') %}select * from {{ r }}"),
             _model("model.p.got", "{% set r = adapter.get_relation(database=target.database, schema=target.schema, "
                                   "identifier='stg_orders') %}select * from {{ r }}"),
             _model("model.p.incremental", "select * from {{ ref('x') }}{% if is_incremental() %} where 1 = 1{% endif %}"),
             _model("model.p.commented", "{# adapter.get_relation(...) #} select 1")]
    assert volatile({"nodes": {n["unique_id"]: n for n in nodes}}) == {"model.p.by_target", "model.p.created", "model.p.got"}


def test_duckdbs_time_zone_is_part_of_every_version_where_it_is_not_utc(tmp_path: Path):
    """DuckDB takes its TimeZone from the environment: a model casting a TIMESTAMPTZ to a date built
    under a laptop's zone was kept under the stack's UTC ("inputs unchanged: reused") with the other
    zone's dates, where `dbt build` rebuilt it. The zone is an input of every node where it is not
    UTC (so the stack's versions stay as they were)."""
    import os
    import subprocess
    import sys

    def settings(zone: str) -> dict:
        done = subprocess.run([sys.executable, "-c", "from clawdata.gold.project import session_settings; "
                               "print(repr(session_settings()))"], env={**os.environ, "TZ": zone},
                              capture_output=True, text=True, check=True)
        return eval(done.stdout)

    assert settings("UTC") == {} and settings("America/New_York") == {"TimeZone": "America/New_York"}
    m = {"nodes": {"model.p.m": _model("model.p.m", "select ts::date from t")}}
    assert versions(m, tmp_path, session={}) == versions(m, tmp_path)
    assert versions(m, tmp_path, session={"TimeZone": "America/New_York"}) != versions(m, tmp_path)


def test_processes_finding_the_project_stale_parse_it_once_and_never_write_half_a_manifest(project, tmp_path, monkeypatch):
    """`dagster dev`'s code server and a command in another terminal both find the project stale
    after an edit: one parses, the other waits and takes its manifest. dbt writes into a private
    folder, the files are renamed into target/ whole; a parse that fails leaves the last good one."""
    import shutil
    import threading

    import pytest

    from clawdata.gold import project as gold_project
    from tests.conftest import ROOT

    dbt = shutil.copytree(ROOT / "dbt", tmp_path / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    loaded = gold_project.load(dbt)
    original, parses, in_place = gold_project._parse, [], []

    def parse_seen(p, target_path):  # (in a thread: what it sees is asserted below, in the test's own)
        before = loaded.manifest_path.read_bytes() if loaded.manifest_path.is_file() else None
        manifest = original(p, target_path)
        parses.append(target_path)
        in_place.append((loaded.manifest_path.read_bytes() if loaded.manifest_path.is_file() else None) != before)
        return manifest

    monkeypatch.setattr(gold_project, "_parse", parse_seen)
    start, parsed = threading.Barrier(2), []

    def prepare():
        start.wait()
        parsed.append(gold_project.prepare_if_stale(loaded, []))

    threads = [threading.Thread(target=prepare) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(parses) == 1 and sorted(parsed) == [False, True], (parses, parsed)
    assert in_place == [False], "dbt wrote target/manifest.json in place"
    good = loaded.manifest_path.read_bytes()
    assert b"dim_customers" in good and not list(loaded.manifest_path.parent.glob(".clawdata-parse-*"))

    (dbt / "models" / "broken.sql").write_text("select {{ 1 + }}\n")  # a Jinja syntax error: dbt's parse fails
    with pytest.raises(gold_project.DbtProjectError, match="broken"):
        gold_project.prepare_if_stale(loaded, [])
    assert loaded.manifest_path.read_bytes() == good


def test_a_default_selector_added_edited_or_removed_is_what_the_next_parse_reads(tmp_path):
    """dbt's partial parse keeps the selectors it started from (a selectors.yml added after the first
    parse was ignored, one removed was kept): the default selector is what a bare `dbt build` builds,
    and so what the assets are. A change of selectors.yml parses in full; other edits stay partial."""
    import shutil

    from clawdata.gold import project as gold_project
    from tests.conftest import ROOT

    dbt = shutil.copytree(ROOT / "dbt", tmp_path / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    loaded = gold_project.load(dbt)

    def selectors() -> dict:
        gold_project.prepare_if_stale(loaded, [])
        return json.loads(loaded.manifest_path.read_text())["selectors"]

    assert selectors() == {}
    selector = ("selectors:\n  - name: {name}\n    default: true\n    definition:\n      union:\n"
                "        - method: fqn\n          value: '*'\n        - exclude:\n            - method: fqn\n"
                "              value: fct_category_revenue\n")
    (dbt / "selectors.yml").write_text(selector.format(name="no_category_revenue"))
    assert list(selectors()) == ["no_category_revenue"]
    (dbt / "selectors.yml").write_text(selector.format(name="renamed"))
    assert list(selectors()) == ["renamed"]
    (dbt / "models" / "marts" / "fct_category_revenue.sql").write_text(
        (dbt / "models" / "marts" / "fct_category_revenue.sql").read_text() + "\n-- an edit\n")
    assert list(selectors()) == ["renamed"]  # (a partial parse: the stamp says selectors.yml is as it was)
    (dbt / "selectors.yml").unlink()
    assert selectors() == {}
