"""Gold: the dbt models, one asset each, with dbt tests as asset checks.

dbt sources carry `meta.dagster.asset_key` (dbt/models/sources.yml), so each model hangs below the
silver asset it reads, and the UI shows one graph from CSV to gold.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from clawdata.defs.gold.project import dbt_project, prepare_if_stale
from clawdata.settings import WAREHOUSE_POOL
from clawdata.warehouse.connection import connect

prepare_if_stale()


class GoldTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "gold" if dbt_resource_props["resource_type"] == "model" else super().get_group_name(dbt_resource_props)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=GoldTranslator(),
    pool=WAREHOUSE_POOL,
)
def gold_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource) -> Iterator:
    # The dbt process holds the warehouse's write lock until it exits, so row counts are read after
    # it ends (dagster-dbt's fetch_row_counts would open the file while dbt still holds it).
    events, error = [], None
    try:
        for event in dbt.cli(["build"], context=context).stream():
            events.append(event)
    except Exception as e:  # failed models or tests: report what did succeed, then fail the step
        error = e
    tables = {e.output_name: context.asset_key_for_output(e.output_name).path[-1] for e in events if isinstance(e, dg.Output)}
    counts = _row_counts(duckdb, tables)
    for event in events:
        if isinstance(event, dg.Output) and event.output_name in counts:
            event = event.with_metadata({**event.metadata, "dagster/row_count": counts[event.output_name]})
        yield event
    if error is not None:
        raise error


def _row_counts(duckdb: DuckDBResource, tables: dict[str, str]) -> dict[str, int]:
    """Row count per output name, for the outputs whose table exists."""
    if not tables:
        return {}
    counts = {}
    with connect(duckdb) as conn:
        existing = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for output, table in tables.items():
            if table in existing:
                counts[output] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    return counts
