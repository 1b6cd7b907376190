"""Gold: the dbt project (CLAWDATA_DBT_PROJECT_DIR, any dbt project on dbt-duckdb), loaded with dagster-dbt.

Why `@dbt_assets` and not dagster-dbt 0.29.27's DbtProjectComponent: the component is state-backed (its
manifest is "defs state", refreshed by `dg utils refresh-defs-state` or under `dagster dev`, not by the
project's content at each load and image build); its op is built inside `build_defs_from_state` with
no resources (it makes `DbtCliResource(project)` itself), so the DuckDB resource that reuse and row
counts need, the pool and dbt's flags would mean overriding that whole method; and it reads the
manifest file, so attaching source tests would mean rewriting dbt's manifest.json. The pieces it
would give (translator settings, source tests as checks, streamed events) are used here directly.
"""

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
