"""Gold: the dbt nodes as assets, dbt tests as asset checks, run by `dbt build`.

- Live progress: dagster-dbt's events are yielded as dbt reports them (each model's materialization,
  then its tests' check results), not after dbt exits.
- Row counts and column types: the dbt process holds DuckDB's write lock until it exits (no other
  process may even read the file meanwhile, and dbt-duckdb reports no row counts), so they are read
  once dbt has exited and reported as one observation per built table (dagster-dbt's
  fetch_row_counts / fetch_column_metadata would open the file while dbt holds it).
- Reuse: unchanged model SQL over unchanged inputs rebuilds the same tables, so the step reuses them
  and re-reports the check results recorded for that same data (a dbt test is a query over those
  tables: re-running it would give the same answer for the cost of starting dbt, seconds on a busy
  host). A check with no recorded result makes the step run dbt.
- Checks alone (one check executed from the UI or the CLI): dbt runs exactly those tests.
- Incremental models: the build is incremental unless gold must start again (increments.py), then
  `dbt build --full-refresh`; what the build took in is emptied from silver's change logs.
"""

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
from dagster_duckdb import DuckDBResource

from clawdata.defs.gold import increments
from clawdata.defs.gold.translator import GoldTranslator, MAIN_SCHEMA
from clawdata.defs.reuse import built_from_same_inputs, full_refresh
from clawdata.settings import WAREHOUSE_POOL
from clawdata.warehouse.connection import connect

_SOURCE_ARG = re.compile(r"""source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")


def build_gold_assets(project: DbtProject) -> dg.AssetsDefinition:
    manifest = attach_source_tests(json.loads(project.manifest_path.read_text()))

    @dbt_assets(manifest=manifest, project=project, dagster_dbt_translator=GoldTranslator(), pool=WAREHOUSE_POOL)
    def gold_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource) -> Iterator:
        keys = set(context.selected_asset_keys)
        if keys and not full_refresh(context) and _same_inputs(context, keys) and len(_tables(duckdb, keys)) == len(keys):
            recorded = _recorded_check_results(context, context.selected_asset_check_keys)
            if recorded is None:
                context.log.info("inputs unchanged, but a check has no recorded result: running dbt")
            else:
                counts = _tables(duckdb, keys)
                for key in sorted(keys):
                    yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_key(key),
                                    metadata={"dagster/row_count": counts[key]["rows"], "reused": True})
                yield from recorded
                return
        deps = context.assets_def.asset_deps
        with connect(duckdb) as conn:
            build = increments.plan(conn, keys, deps, full_refresh(context), _changed_models(context, keys))
        context.log.info(f"gold build: {build.reason}")
        built, error = [], None
        try:
            for event in dbt.cli(["build", *(["--full-refresh"] if build.full else [])], context=context).stream():
                if isinstance(event, dg.Output):
                    built.append(context.asset_key_for_output(event.output_name))
                    event = event.with_metadata({**event.metadata, "reused": False, "full_refresh": build.full})
                yield event
        except Exception as e:  # failed models or tests: report what did get built, then fail the step
            error = e
        with connect(duckdb) as conn:
            increments.taken_in(conn, build, set(built), deps)
        for key, table in _tables(duckdb, built).items():
            yield dg.AssetObservation(asset_key=key, metadata={
                "dagster/row_count": table["rows"],
                "dagster/column_schema": _schema(context.assets_def.specs_by_key[key], table["columns"]),
            })
        if error is not None:
            raise error

    return gold_models


def attach_source_tests(manifest: dict) -> dict:
    """A generic test on a source with a second parent (relationships to another source) has no
    `attached_node` in dbt's manifest, so dagster-dbt would report it as observations on both
    sources; attach it to the source it tests (its `model` argument), so that it is that source's check."""
    sources = {(s["package_name"], s["source_name"], s["name"]): uid for uid, s in manifest.get("sources", {}).items()}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "test" or node.get("attached_node"):
            continue
        tested = _SOURCE_ARG.search(str((node.get("test_metadata") or {}).get("kwargs", {}).get("model", "")))
        if tested:
            node["attached_node"] = sources.get((node["package_name"], *tested.groups()))
    return manifest


def _changed_models(context: dg.AssetExecutionContext, keys: Iterable[dg.AssetKey]) -> list[str]:
    """Selected models built before by other code (SQL, config): an incremental model would keep rows
    its old code computed, so the build is full."""
    code_versions = context.assets_def.code_versions_by_key
    changed = []
    for key in sorted(keys):
        provenance = context.get_asset_provenance(key)
        if provenance is not None and provenance.code_version != code_versions.get(key):
            changed.append(key.to_user_string())
    return changed


def _same_inputs(context: dg.AssetExecutionContext, keys: Iterable[dg.AssetKey]) -> bool:
    code_versions, deps = context.assets_def.code_versions_by_key, context.assets_def.asset_deps
    return all(built_from_same_inputs(context, key, code_versions.get(key), deps.get(key, ())) for key in keys)


def _recorded_check_results(context: dg.AssetExecutionContext, check_keys) -> list[dg.AssetCheckResult] | None:
    """The last completed result of every check, again (with `reused`), or None if one has none.
    (The latest execution of each is this run's own, planned: hence the status filter.)"""
    storage, done = context.instance.event_log_storage, set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
    results = []
    for key in check_keys:
        records = storage.get_asset_check_execution_history(key, limit=1, status=done)
        event = records[0].event if records else None
        evaluation = event.dagster_event.event_specific_data if event and event.dagster_event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            return None
        results.append(dg.AssetCheckResult(
            asset_key=key.asset_key, check_name=key.name, passed=evaluation.passed, severity=evaluation.severity,
            description=evaluation.description, metadata={**evaluation.metadata, "reused": True},
        ))
    return results


def _tables(duckdb: DuckDBResource, keys: Iterable[dg.AssetKey]) -> dict[dg.AssetKey, dict]:
    """Rows and (name, type) columns of each key's table, for the tables that exist."""
    wanted = {key: ((MAIN_SCHEMA, key.path[0]) if len(key.path) == 1 else tuple(key.path[-2:])) for key in keys}
    if not wanted:
        return {}
    found = {}
    with connect(duckdb) as conn:
        columns: dict[tuple, list] = {}
        for schema, table, column, type_ in conn.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns ORDER BY ordinal_position"
        ).fetchall():
            columns.setdefault((schema, table), []).append((column, type_))
        for key, (schema, table) in wanted.items():
            if (schema, table) in columns:
                rows = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
                found[key] = {"rows": rows, "columns": columns[(schema, table)]}
    return found


def _schema(spec: dg.AssetSpec, columns: list[tuple[str, str]]) -> dg.TableSchema:
    """The table's columns and types, with the descriptions dbt documents."""
    documented = spec.metadata.get("dagster/column_schema")
    documented = getattr(documented, "schema", documented)  # a TableSchemaMetadataValue in a spec
    descriptions: Mapping[str, Any] = {c.name: c.description for c in documented.columns} if documented else {}
    return dg.TableSchema(columns=[dg.TableColumn(name, type_, description=descriptions.get(name)) for name, type_ in columns])
