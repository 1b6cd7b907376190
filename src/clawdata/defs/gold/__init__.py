"""Gold: the dbt project (CLAWDATA_DBT_PROJECT_DIR, any dbt project on dbt-duckdb), loaded with dagster-dbt.

The assets and checks are dagster-dbt's (`@dbt_assets` over the manifest, with clawdata's translator);
the step runs dbt in its own process (gold/runner.py) on what changed (plan.py).

Why `@dbt_assets` and not dagster-dbt 0.29.27's DbtProjectComponent: the component is state-backed (its
manifest is "defs state", refreshed by `dg utils refresh-defs-state` or under `dagster dev`, not by the
project's content at each load and image build), and its op runs dbt through DbtCliResource, a dbt
process per run with no way to full-refresh one model of a build or to report unit tests as checks.
"""

import json
from collections.abc import Sequence

import dagster as dg

from clawdata import settings
from clawdata.gold import dbt_core

dbt_core.import_dagster_dbt(settings.dbt_project_dir())  # first, before any module below imports dagster-dbt
from dagster_dbt import DbtProject  # noqa: E402

from clawdata.defs.gold.assets import build_gold_assets  # noqa: E402
from clawdata.defs.gold.translator import refuse_collisions  # noqa: E402
from clawdata.gold import project  # noqa: E402
from clawdata.sources.declarations import Declared  # noqa: E402


def build_defs(dbt_project: DbtProject, sources: Sequence[Declared] = ()) -> dg.Definitions:
    """The gold Definitions; a dbt node that would build a source's table fails the load, naming both,
    and so does a profile of the user's own that builds into another file than the warehouse."""
    project.prepare_if_stale(dbt_project, [d.spec for d in sources])
    project.remember_loaded(dbt_project)  # the inbox sensor waits for a reload once it changed
    manifest = json.loads(dbt_project.manifest_path.read_text())
    project.refuse_another_database(manifest)
    refuse_collisions(manifest, sources)
    declared = {table.qualified: dg.AssetKey(key) for d in sources
                for table, key in ((d.spec.bronze, d.spec.raw_table), (d.spec.silver, d.spec.silver_table))}
    keys = {d.spec.silver_table: tuple(d.spec.key) for d in sources}
    return dg.Definitions(assets=[build_gold_assets(dbt_project, declared, keys)])
