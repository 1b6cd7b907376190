"""Gold: the dbt project on dbt-duckdb, loaded with dagster-dbt."""

import dagster as dg
from dagster_dbt import DbtCliResource

from clawdata.defs.gold.assets import gold_models
from clawdata.defs.gold.project import dbt_project

defs = dg.Definitions(assets=[gold_models], resources={"dbt": DbtCliResource(project_dir=dbt_project)})
