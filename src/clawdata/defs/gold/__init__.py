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
from functools import cached_property

import dagster as dg
from dbt.version import __version__ as dbt_version
from packaging import version
from dagster_dbt import DbtCliResource, DbtProject

from clawdata.defs.gold import project
from clawdata.defs.gold.assets import build_gold_assets
from clawdata.defs.gold.translator import refuse_collisions


class GoldDbtCli(DbtCliResource):
    """dagster-dbt's dbt resource without two costs paid before each `dbt build` starts, for things
    this project does not use: a `dbt --version` subprocess (a whole dbt start: 45 s of the 86-134 s
    measured between step start and dbt's launch on a loaded 2-core host) and an in-process dbt
    adapter (only for fetch_row_counts / fetch_column_metadata, which cannot work here: dbt holds
    DuckDB's lock). dbt is the dbt-core installed beside this interpreter (settings.py puts it on PATH)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_version)

    def _initialize_dbt_core_adapter(self, args):
        return None


def build_defs(dbt_project: DbtProject, others: dg.Definitions | None = None) -> dg.Definitions:
    """The gold Definitions; a dbt node that would build a table of `others` fails the load, naming both."""
    project.prepare_if_stale(dbt_project)
    if others is not None:
        refuse_collisions(json.loads(dbt_project.manifest_path.read_text()), others)
    return dg.Definitions(
        assets=[build_gold_assets(dbt_project)],
        resources={"dbt": GoldDbtCli(
            project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir), target=dbt_project.target,
            global_config_flags=["--no-use-colors"],  # dbt's colour codes would end up in logs and the CLI
        )},
    )
