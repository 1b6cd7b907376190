"""How dbt nodes become Dagster assets: keys are the tables they build, groups by kind.

- A model, seed or snapshot's key is its table: `alias` in the warehouse's main schema (where bronze
  and silver live, under the same rule), `schema/alias` elsewhere. A dbt node that would build the
  table of a bronze or silver asset is refused at load (`refuse_collisions`): a key prefix alone
  would hide that dbt overwrites the table.
- Groups: seeds in `seeds`, models and snapshots in `gold`, unless dbt `meta.dagster.group` says
  otherwise. Owners and tags come from dbt `meta.dagster.owners` and dbt tags (dagster-dbt's defaults).
- Gold models carry a freshness policy: late (the UI and `status` say so) when not rebuilt within
  CLAWDATA_GOLD_FRESHNESS_HOURS (default 26: a daily delivery, with two hours' grace).
- dbt tests are asset checks, source tests included: those land on the silver assets that the
  sources map to (`meta.dagster.asset_key` in sources.yml) instead of flooding them with observations.
"""

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

MAIN_SCHEMA = "main"
SEED_GROUP = "seeds"
GOLD_GROUP = "gold"
GOLD_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=float(os.environ.get("CLAWDATA_GOLD_FRESHNESS_HOURS") or 26)))


def table_name(props: Mapping[str, Any]) -> str:
    alias = props.get("alias") or props["name"]
    return alias if props.get("schema") == MAIN_SCHEMA else f"{props.get('schema')}.{alias}"


class GoldTranslator(DagsterDbtTranslator):
    def __init__(self):
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True))

    def get_asset_key(self, props: Mapping[str, Any]) -> dg.AssetKey:
        if props["resource_type"] == "source" or props.get("meta", {}).get("dagster", {}).get("asset_key"):
            return super().get_asset_key(props)
        return dg.AssetKey(table_name(props).split("."))

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if spec.group_name == GOLD_GROUP and unique_id.split(".")[0] in ("model", "snapshot"):
            return spec.replace_attributes(freshness_policy=GOLD_FRESHNESS)
        return spec

    def get_group_name(self, props: Mapping[str, Any]) -> str | None:
        group = super().get_group_name(props)
        if group or props["resource_type"] == "source":
            return group
        return SEED_GROUP if props["resource_type"] == "seed" else GOLD_GROUP

    def get_code_version(self, props: Mapping[str, Any]) -> str | None:
        # dagster-dbt versions SQL only; a seed's version is its file's checksum (dbt's own), so
        # unchanged seeds do not keep the whole gold step from reusing its tables.
        return super().get_code_version(props) or (props.get("checksum") or {}).get("checksum")

    def get_metadata(self, props: Mapping[str, Any]) -> Mapping[str, Any]:
        # dagster-dbt names the table database.schema.alias; bronze and silver name theirs as above.
        return {**super().get_metadata(props), "dagster/table_name": table_name(props)}


def refuse_collisions(manifest: Mapping[str, Any], others: dg.Definitions) -> None:
    """Fail the load, naming both sides, if a dbt node builds the table of another asset."""
    ours = {}
    for asset in others.assets or ():
        for spec in asset.specs if isinstance(asset, dg.AssetsDefinition) else [asset]:
            ours[spec.key] = spec
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        key = dg.AssetKey(table_name(node).split("."))
        if key not in ours:
            continue
        other = ours[key]
        raise ValueError(
            f"dbt {node['resource_type']} '{node['name']}' ({node.get('original_file_path')}) would build "
            f"table {node.get('schema')}.{node.get('alias') or node['name']}, which is the {other.group_name} "
            f"asset '{key.to_user_string()}'. Give it its own schema in dbt_project.yml (e.g. "
            f"`{node['resource_type']}s: {{{node.get('package_name')}: {{+schema: {node['resource_type']}s}}}}`, "
            f"which builds main_{node['resource_type']}s.{node['name']}) or rename it."
        )


def source_column_docs(manifest: Mapping[str, Any]) -> dict[dg.AssetKey, dict[str, str]]:
    """The column descriptions that the project's sources document, by the asset each source maps to
    (the silver tables, for ours): bronze and silver are Python assets, but dbt users document their
    inputs in sources.yml, and the UI should show it there."""
    translator, docs = GoldTranslator(), {}
    for source in manifest.get("sources", {}).values():
        described = {name: col["description"] for name, col in (source.get("columns") or {}).items() if col.get("description")}
        if described:
            docs.setdefault(translator.get_asset_key(source), {}).update(described)
    return docs
