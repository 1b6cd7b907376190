"""Gold: the dbt project (CLAWDATA_DBT_PROJECT_DIR, any dbt project on dbt-duckdb), loaded with dagster-dbt."""

import json

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject

from clawdata.defs.gold import project
from clawdata.defs.gold.assets import build_gold_assets
from clawdata.defs.gold.translator import refuse_collisions


def build_defs(dbt_project: DbtProject, others: dg.Definitions | None = None) -> dg.Definitions:
    """The gold Definitions; a dbt node that would build a table of `others` fails the load, naming both."""
    project.prepare_if_stale(dbt_project)
    if others is not None:
        refuse_collisions(json.loads(dbt_project.manifest_path.read_text()), others)
    return dg.Definitions(
        assets=[build_gold_assets(dbt_project)],
        resources={"dbt": DbtCliResource(
            project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir), target=dbt_project.target,
            global_config_flags=["--no-use-colors"],  # dbt's colour codes would end up in logs and the CLI
        )},
    )
