"""Gold: the dbt project (CLAWDATA_DBT_PROJECT_DIR, any dbt project on dbt-duckdb), loaded with dagster-dbt."""

import json

import dagster as dg
from dagster_dbt import DbtCliResource

from clawdata.defs.gold import project
from clawdata.defs.gold.assets import build_gold_assets
from clawdata.defs.gold.translator import refuse_collisions

dbt_project = project.load()
project.prepare_if_stale(dbt_project)
gold_models = build_gold_assets(dbt_project)

defs = dg.Definitions(
    assets=[gold_models],
    resources={"dbt": DbtCliResource(
        project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir), target=dbt_project.target,
        global_config_flags=["--no-use-colors"],  # dbt's colour codes would end up in logs and the CLI
    )},
)


def refuse_collisions_with(others: dg.Definitions) -> None:
    """A dbt node that would build a bronze or silver table fails the load, naming both."""
    refuse_collisions(json.loads(dbt_project.manifest_path.read_text()), others)
