"""The dbt project (gold layer) parses cleanly and builds on silver tables made from the committed sample.

The silver tables are built by the real bronze and silver assets, then dbt runs on its own, so a dbt
failure shows here without the rest of the pipeline. The revenue check comes from tests/oracle.py.
"""

import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from clawdata.sources.declarations import specs
from clawdata.gold.runner import close_dbt_duckdb
from clawdata.warehouse.readers import read_only
from tests.oracle import GOLD_MODELS, expected

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt"
SAMPLE_DIR = ROOT / "data" / "sample"
MODELS = set(GOLD_MODELS)
# Orders referencing customers missing from the CRM export are in the sample by design.
EXPECTED_WARNINGS = {"source_relationships_silver_slv_orders_customer_id__customer_id__source_silver_slv_customers_"}


def build_silver(warehouse: Path) -> None:
    """raw_* and slv_* built by the real bronze and silver assets (in-process, no dbt)."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from clawdata.defs.ingest.assets import build_ingest_assets

    assets = [a for source in specs() for a in build_ingest_assets(source)]
    dg.materialize(assets, resources={"duckdb": DuckDBResource(database=str(warehouse))})


def csv_revenue(sample_dir: Path = SAMPLE_DIR) -> Decimal:
    """Revenue computed from the CSV files by the independent oracle."""
    return expected(sample_dir)["revenue"]


def invoke(project: Path, *args: str):
    """Run dbt in-process on a copy of the project; returns (result, warning and error events)."""
    events = []

    def collect(event) -> None:
        if event.info.level in ("warn", "error"):
            events.append(f"{event.info.name}: {event.info.msg}")

    result = dbtRunner(callbacks=[collect]).invoke(
        [*args, "--project-dir", str(project), "--profiles-dir", str(project)]
    )
    close_dbt_duckdb()  # dbt-duckdb keeps the file open in this process otherwise
    return result, events


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("dbt")
    copy = tmp / "dbt"
    shutil.copytree(DBT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"))
    warehouse = tmp / "warehouse.duckdb"
    build_silver(warehouse)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLAWDATA_WAREHOUSE_PATH", str(warehouse))
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        parsed = invoke(copy, "parse")
        built = invoke(copy, "build")
    return {"dir": copy, "warehouse": warehouse, "parse": parsed, "build": built}


def query(project: dict, sql: str):
    with read_only(project["warehouse"]) as conn:
        return conn.execute(sql).fetchall()


def test_parse_is_clean_and_maps_sources_onto_silver_assets(project):
    result, events = project["parse"]
    assert result.success, result.exception
    assert events == [], "dbt parse printed warnings (deprecations?):\n" + "\n".join(events)
    manifest = json.loads((project["dir"] / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["project_name"] == "clawdata"
    keys = {s["name"]: s["config"]["meta"]["dagster"]["asset_key"] for s in manifest["sources"].values()}
    assert keys == {name: [name] for name in ("slv_customers", "slv_orders", "slv_products")}
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert set(models) == MODELS
    assert {m["config"]["materialized"] for m in models.values()} == {"table", "incremental"}
    for model in models.values():
        assert model["description"] and all(c["description"] for c in model["columns"].values()), model["name"]


def test_build_passes_every_model_and_test(project):
    result, _ = project["build"]
    assert result.success, result.exception
    statuses = {(r.node.resource_type, r.node.name): str(r.status) for r in result.result.results}
    assert {name for (kind, name) in statuses if kind == "model"} == MODELS
    assert all(statuses[("model", name)] == "success" for name in MODELS)
    tests = {name: status for (kind, name), status in statuses.items() if kind == "test"}
    assert len(tests) >= 40
    warned = {name for name, status in tests.items() if status == "warn"}
    assert warned == EXPECTED_WARNINGS
    assert all(status == "pass" for name, status in tests.items() if name not in warned)


def test_gold_tables_are_tables(project):
    kinds = dict(query(project, "SELECT table_name, table_type FROM information_schema.tables"))
    assert {kinds[name] for name in MODELS} == {"BASE TABLE"}


def test_dim_customers_has_one_row_per_silver_customer(project):
    assert query(project, "SELECT count(*) FROM dim_customers") == query(project, "SELECT count(*) FROM slv_customers")
    assert query(project, "SELECT count(*) FROM slv_customers")[0][0] == 600


def test_daily_revenue_matches_the_csv_files(project):
    revenue = query(project, "SELECT sum(revenue) FROM fct_daily_revenue")[0][0]
    assert revenue == csv_revenue()
    assert query(project, "SELECT sum(revenue) FROM fct_category_revenue")[0][0] == revenue


def test_the_project_builds_again_alone_without_clawdatas_change_logs(project):
    """The incremental models on a warehouse that clawdata did not build (no change logs): a second
    `dbt build` recomputes every row and gives the same tables."""
    before = query(project, "SELECT count(*), sum(lifetime_value) FROM dim_customers")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLAWDATA_WAREHOUSE_PATH", str(project["warehouse"]))
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        result, _ = invoke(project["dir"], "build", "--select", "dim_customers", "fct_daily_revenue")
    assert result.success, result.exception
    assert query(project, "SELECT count(*), sum(lifetime_value) FROM dim_customers") == before
    assert query(project, "SELECT sum(revenue) FROM fct_daily_revenue")[0][0] == csv_revenue()
