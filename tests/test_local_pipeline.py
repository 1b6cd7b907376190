"""The embedded default, as a user drives it: `clawdata dagster materialize --all`, then status."""

import json
import re
import shutil

import duckdb

import pytest
from dagster import DagsterInstance

from clawdata.cli import remote
from clawdata.cli.graphql import in_process_graphql
from clawdata.cli.progress import RunEvent
from clawdata.warehouse.readers import read_only

from tests.conftest import ROOT, make_project, run_cli
from tests.oracle import GOLD_MODELS, expected
from tests.status_readers import same_status, stored_and_graphql_snapshots

GOLD = GOLD_MODELS


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    paths = make_project(tmp_path_factory.mktemp("built"))
    result = run_cli(paths["env"], "dagster", "materialize", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    paths["output"] = result.stdout
    paths["oracle"] = expected(paths["sample"])
    return paths


def query(paths, sql):
    with read_only(paths["warehouse"]) as conn:
        return conn.execute(sql).fetchall()


def test_materialize_all_fills_every_layer(built):
    tables = {r[0] for r in query(built, "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'warehouse'")}
    for name in ("customers", "orders", "products"):
        assert {f"raw_{name}", f"slv_{name}"} <= tables
    assert set(GOLD) <= tables
    assert not any(t.endswith("__staging") for t in tables), "a staging table was left behind"
    assert "SUCCESS" in built["output"]


def test_bronze_and_silver_match_the_csv_files(built):
    oracle = built["oracle"]
    for name in ("customers", "orders", "products"):
        assert query(built, f"SELECT count(*) FROM raw_{name}")[0][0] == oracle[f"raw_{name}"]
        assert query(built, f"SELECT count(*) FROM slv_{name}")[0][0] == oracle[f"slv_{name}"]
    # Deduplication kept the latest version of each customer, cleaned.
    emails = dict(query(built, "SELECT customer_id, email FROM slv_customers"))
    assert emails == oracle["emails"]
    assert oracle["raw_customers"] > oracle["slv_customers"], "the sample must contain duplicates"


def test_gold_models_agree_with_the_csv_files(built):
    oracle = built["oracle"]
    assert query(built, "SELECT count(*) FROM dim_customers")[0][0] == oracle["slv_customers"]
    revenue = query(built, "SELECT sum(revenue) FROM fct_daily_revenue")[0][0]
    assert revenue == oracle["revenue"]


def test_status_lists_every_asset_with_rows_and_checks(built):
    result = run_cli(built["env"], "dagster", "status")
    assert result.returncode == 0, result.stderr
    oracle = built["oracle"]
    for name in ("customers", "orders", "products"):
        for table in (f"raw_{name}", f"slv_{name}"):
            line = next(l for l in result.stdout.splitlines() if re.search(rf"\b{table}\b", l))
            assert f"{oracle[table]:,}" in line, line
            assert "passed" in line and "failed" not in line, line
    for model in GOLD:
        line = next(l for l in result.stdout.splitlines() if re.search(rf"\b{model}\b", l))
        assert "gold" in line and "never" not in line, line
    assert "materialize_all" in result.stdout and "SUCCESS" in result.stdout
    assert "inbox_sensor" in result.stdout and "daily_refresh" in result.stdout
    assert "definitions do not have" not in result.stdout


def test_a_materialize_leaves_status_the_definitions_graphql_would_give(built):
    """`materialize` loads the definitions: it stores what `status` needs of them (from Dagster's
    RepositorySnap), so the `status` after it reads records alone; and that is what Dagster's
    GraphQL answers for them (the snapshot `status` stored before, after a load of its own)."""
    done = run_cli(built["env"], "dagster", "materialize", "--all")  # all: the latest run builds what the module's runs built
    assert done.returncode == 0, done.stdout + done.stderr
    both = stored_and_graphql_snapshots(built["env"])
    stored = both["stored"]
    assert stored is not None and stored["requiredDaemons"], "materialize left no current snapshot"

    def shape(definitions: dict) -> dict:  # the same, whatever the order of checks and parents
        definitions = json.loads(json.dumps(definitions))
        for node in definitions["assetNodes"]:
            node["assetChecksOrError"]["checks"].sort(key=lambda c: c["name"])
            node["dependencyKeys"].sort(key=lambda k: k["path"])
            if (node["internalFreshnessPolicy"] or {}).get("failWindowSeconds") is not None:
                node["internalFreshnessPolicy"]["failWindowSeconds"] = float(node["internalFreshnessPolicy"]["failWindowSeconds"])
        return definitions

    assert shape(stored["definitions"]) == shape(both["graphql"])
    assert {len(n["assetChecksOrError"]["checks"]) > 0 for n in stored["definitions"]["assetNodes"]} == {True, False}
    assert same_status(built["env"]) is not None


def test_status_under_another_dbt_project_says_what_the_runs_built_that_it_lacks(built, tmp_path):
    """A shell without CLAWDATA_DBT_PROJECT_DIR: status showed the other project's models as never
    built, and not a word of the project the runs built."""
    shutil.copytree(ROOT / "tests" / "dbt_other", tmp_path / "other")
    result = run_cli({**built["env"], "CLAWDATA_DBT_PROJECT_DIR": str(tmp_path / "other")}, "dagster", "status")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "built assets these definitions do not have: dim_customers, fct_category_revenue" in text, result.stdout


def test_materialize_named_assets(built):
    result = run_cli(built["env"], "dagster", "materialize", "slv_products", "fct_category_revenue")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "slv_products" in result.stdout and "fct_category_revenue" in result.stdout


def test_a_steps_warning_is_printed_where_it_happens(built):
    """A step's `context.log.warning` is no Dagster event: the CLI listens for it. Here, a view left
    over a column renamed since: the replica serves the rest and names it."""
    with duckdb.connect(str(built["warehouse"])) as conn:
        conn.execute("CREATE TABLE main.bonus AS SELECT 1 AS pct")
        conn.execute("CREATE VIEW main.orphan AS SELECT pct FROM main.bonus")
        conn.execute("ALTER TABLE main.bonus RENAME COLUMN pct TO rate")
    try:
        result = run_cli(built["env"], "dagster", "materialize", "--full-refresh", "warehouse_replica")
    finally:
        with duckdb.connect(str(built["warehouse"])) as conn:
            conn.execute("DROP VIEW main.orphan; DROP TABLE main.bonus")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "! warehouse_replica: views that read nothing that exists" in out and "main.orphan" in out, out
    assert out.index("! warehouse_replica") < out.index("SUCCESS")
    # The same run followed as on a deployment: its events through Dagster's GraphQL API.
    run_id = re.search(r"^run (\S+)", out, re.M)[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(built["home"]))
        with DagsterInstance.get() as instance, in_process_graphql(instance, load_code=False) as graphql:
            followed = list(remote.follow(graphql, run_id, poll_seconds=0.01))
    assert followed[-1] == "SUCCESS"
    warned = [e for e in followed if isinstance(e, RunEvent) and e.kind == "warning"]
    assert [(e.name, "main.orphan" in e.detail) for e in warned] == [("warehouse_replica", True)], followed


def test_unknown_asset_gets_close_matches_and_exit_2(built):
    result = run_cli(built["env"], "dagster", "materialize", "slv_customer")
    assert result.returncode == 2
    assert "unknown asset 'slv_customer'" in result.stderr and "slv_customers" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_sensor_exit_2(built):
    result = run_cli(built["env"], "dagster", "sensor", "tick", "inbox_sensr")
    assert result.returncode == 2 and "inbox_sensor" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_server_is_a_clear_error(built):
    result = run_cli(built["env"], "dagster", "--url", "http://127.0.0.1:9", "status")
    assert result.returncode == 1
    assert "cannot reach the Dagster webserver at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_warehouse_file_of_another_name_builds_gold_there(tmp_path):
    """The file's name is the catalog dbt parses into every node: after a run on warehouse.duckdb, a
    run on analytics.duckdb parses again instead of building gold against a catalog not attached."""
    paths = make_project(tmp_path)
    shutil.copytree(ROOT / "dbt", tmp_path / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    env = {**paths["env"], "CLAWDATA_DBT_PROJECT_DIR": str(tmp_path / "dbt")}
    first = run_cli(env, "dagster", "materialize", "--all")
    assert first.returncode == 0, first.stdout + first.stderr
    env["CLAWDATA_WAREHOUSE_PATH"] = str(tmp_path / "analytics.duckdb")
    second = run_cli(env, "dagster", "materialize", "--all")
    assert second.returncode == 0, second.stdout + second.stderr
    with read_only(tmp_path / "analytics.duckdb") as conn:
        assert conn.execute("SELECT count(*) FROM dim_customers").fetchone()[0] == expected(paths["sample"])["slv_customers"]


def test_source_list_counts_the_files_where_they_are_loaded(built, monkeypatch):
    """`source list` counts the files a source reads now, here; with --url, those of the deployment's
    last load (its bronze's metadata): the files where the CLI runs are not the deployment's."""
    from clawdata.cli import graphql as graphql_module
    from clawdata.cli import sources
    from clawdata.cli.progress import console

    local = run_cli(built["env"], "source", "list")
    assert local.returncode == 0, local.stderr
    line = next(l for l in local.stdout.splitlines() if l.startswith("│ customers"))
    assert "(1 file now)" in line and "600" in line, local.stdout

    for key, value in built["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(built["home"]))
    for key in ("CLAWDATA_SAMPLE_DIR", "CLAWDATA_INBOX_DIR"):
        monkeypatch.setenv(key, str(built["home"] / "elsewhere"))  # the CLI's machine holds no files
    with DagsterInstance.get() as instance, in_process_graphql(instance) as deployment:
        monkeypatch.setattr(graphql_module, "HttpGraphQL", lambda url: deployment)
        # The sources are the deployment's, as its image declares them: this checkout declares none
        # (an outsider's list showed the checkout's, without the sources deployed from another one).
        monkeypatch.setattr(sources.declarations, "specs", lambda *args: [])
        monkeypatch.setattr(console, "width", 160)  # as a pipe gets it (pytest-xdist's workers have COLUMNS=80)
        with console.capture() as shown:
            sources.show("http://deployment:3000")
    line = next(l for l in shown.get().splitlines() if l.startswith("│ customers"))
    assert "(1 file at the last" in line and "600" in line, shown.get()  # (the column wraps)
    assert all(f"│ {name}" in shown.get() for name in ("orders", "products")), shown.get()
    assert "as deployed at http://deployment:3000" in shown.get(), shown.get()
