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
from clawdata.defs.reuse import built_from_same_inputs
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
    tables = {key: key.path[-1] for key in context.selected_asset_keys}
    existing = _row_counts(duckdb, tables) if _same_inputs(context, tables) else {}
    if len(existing) == len(tables):
        # Same model SQL, same upstream data: dbt would rebuild the same tables. Its tests are not
        # re-run; their last results are for this same data.
        for key in context.selected_asset_keys:
            yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_key(key),
                            metadata={"dagster/row_count": existing[key], "reused": True})
        return
    # The dbt process holds the warehouse's write lock until it exits, so row counts are read after
    # it ends (dagster-dbt's fetch_row_counts would open the file while dbt still holds it).
    events, error = [], None
    try:
        for event in dbt.cli(["build"], context=context).stream():
            events.append(event)
    except Exception as e:  # failed models or tests: report what did succeed, then fail the step
        error = e
    outputs = {e.output_name: context.asset_key_for_output(e.output_name) for e in events if isinstance(e, dg.Output)}
    counts = _row_counts(duckdb, {key: tables[key] for key in outputs.values()})
    for event in events:
        if isinstance(event, dg.Output) and outputs[event.output_name] in counts:
            event = event.with_metadata({**event.metadata, "dagster/row_count": counts[outputs[event.output_name]], "reused": False})
        yield event
    if error is not None:
        raise error


def _same_inputs(context: dg.AssetExecutionContext, tables: dict[dg.AssetKey, str]) -> bool:
    code_versions, deps = context.assets_def.code_versions_by_key, context.assets_def.asset_deps
    return all(built_from_same_inputs(context, key, code_versions.get(key), deps.get(key, ())) for key in tables)


def _row_counts(duckdb: DuckDBResource, tables: dict) -> dict:
    """Row count per key of `tables` (key -> table name), for the tables that exist."""
    if not tables:
        return {}
    counts = {}
    with connect(duckdb) as conn:
        existing = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for output, table in tables.items():
            if table in existing:
                counts[output] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    return counts
