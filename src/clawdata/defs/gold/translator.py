"""How dbt nodes become Dagster assets: keys are the tables they build, groups by kind.

- A model, seed or snapshot's key is its table's name when it builds into the main schema
  (`dim_customers`), `schema/name` elsewhere (`marts/orders`), and `main/name` when a clawdata asset
  already has the bare name (a seed `raw_customers` beside bronze's `raw_customers`, which lives in
  schema `bronze`). A table name Dagster cannot take in a key (a space, `$`, a letter outside ASCII:
  Dagster derives Python identifiers from keys) is spelled with what it can (`my table` -> `my_table`,
  `Straße` -> `Strasse`; `dagster/table_name` keeps the real one); two nodes whose keys Dagster
  would spell alike (`my-table`, `my table`) fail the load, naming both. A dbt node that would build the very table of a bronze or silver asset is refused
  at load (`refuse_collisions`), naming both.
- Groups: seeds in `seeds`, models and snapshots in `gold`, unless dbt `meta.dagster.group` says
  otherwise. Owners and tags come from dbt `meta.dagster.owners` and dbt tags (dagster-dbt's defaults).
- Code versions are the nodes' definitions as dbt's state comparison sees them, macros and vars
  included (gold/manifest.py): Dagster's "code changed" is dbt's `state:modified`.
- Models and snapshots, in any group, carry a freshness policy: late (the UI and `status` say so) when not rebuilt within
  CLAWDATA_GOLD_FRESHNESS_HOURS (default 26: a daily delivery, with two hours' grace).
- dbt tests are asset checks: source tests on the silver assets the sources map to, singular tests
  with several parents and unit tests on the node gold/manifest.py attaches them to.
"""

import os
import re
import unicodedata
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from clawdata import settings
from clawdata.gold.manifest import ORPHAN_SOURCE_TEST

MAIN_SCHEMA = "main"
SEED_GROUP = "seeds"
GOLD_GROUP = "gold"
GOLD_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=float(os.environ.get("CLAWDATA_GOLD_FRESHNESS_HOURS") or 26)))


# What Dagster takes in a key's part: it turns `-` and `.` into `_` to name ops and inputs, and refuses
# any other character outside [A-Za-z0-9_] there.
_KEY_PART = re.compile(r"[A-Za-z0-9_.\-]+")


def key_part(name: str) -> str:
    """`name` as a key's part: letters without their accents, anything else Dagster refuses as `_`."""
    if _KEY_PART.fullmatch(name):
        return name
    plain = unicodedata.normalize("NFKD", name.replace("ß", "ss"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", plain)


def table_name(props: Mapping[str, Any]) -> str:
    """`schema.table`, as every layer names its table (`dagster/table_name`)."""
    return f"{props.get('schema')}.{props.get('alias') or props['name']}"


def declared_source_keys(manifest: Mapping[str, Any], declared: Mapping[str, dg.AssetKey]) -> dict[str, dg.AssetKey]:
    """The dbt sources that name a declared source's table (`silver.slv_x`) in the project's own YAML
    without clawdata's `meta.dagster.asset_key`: that asset all the same (their tests are its checks),
    unless another dbt source of the table claims it (dagster-dbt takes one source per key)."""
    def meta_key(source: Mapping[str, Any]):
        key = (((source.get("config") or {}).get("meta") or source.get("meta") or {}).get("dagster") or {}).get("asset_key")
        return dg.AssetKey(key) if key else None

    sources = manifest.get("sources", {})
    claimed, found = {meta_key(s) for s in sources.values()}, {}
    for uid in sorted(sources):
        key = declared.get(f"{sources[uid].get('schema')}.{sources[uid].get('identifier') or sources[uid]['name']}")
        if key is not None and meta_key(sources[uid]) is None and key not in claimed:
            claimed.add(key)
            found[uid] = key
    return found


class GoldTranslator(DagsterDbtTranslator):
    def __init__(self, versions: Mapping[str, str] | None = None, reserved: frozenset[dg.AssetKey] = frozenset(),
                 source_keys: Mapping[str, dg.AssetKey] | None = None):
        """`versions`: unique id -> definition version; `reserved`: the other assets' keys;
        `source_keys`: the declared sources' assets of dbt sources without a key of their own."""
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True))
        self._versions = dict(versions or {})
        self._reserved = reserved
        self._source_keys = dict(source_keys or {})
        self._spelled: dict[str, tuple[str, str, str]] = {}  # a key as Dagster names ops -> (unique id, table, key)

    def get_asset_key(self, props: Mapping[str, Any]) -> dg.AssetKey:
        if props.get("meta", {}).get("dagster", {}).get("asset_key"):
            return super().get_asset_key(props)
        if props["resource_type"] == "source":
            return self._source_keys.get(props["unique_id"]) or super().get_asset_key(props)
        schema, table = props.get("schema") or "", props.get("alias") or props["name"]
        if schema == MAIN_SCHEMA and dg.AssetKey(key_part(table)) not in self._reserved:
            path = [table]
        else:
            path = [schema, table]
        key = dg.AssetKey([key_part(part) for part in path])
        self._claim_name(key, props)
        return key

    def _claim_name(self, key: dg.AssetKey, props: Mapping[str, Any]) -> None:
        """Dagster names ops and inputs after `key.to_python_identifier()`: two keys spelled alike there
        (`my-table`, `my table`) would fail the load deep inside Dagster (a KeyError)."""
        mine = (props["unique_id"], table_name(props), key.to_user_string())
        other = self._spelled.setdefault(key.to_python_identifier(), mine)
        if other[0] != mine[0]:
            raise ValueError(f"dbt nodes {other[0]} (table {other[1]}, asset {other[2]!r}) and {mine[0]} (table "
                             f"{mine[1]}, asset {mine[2]!r}) would have one name in Dagster, "
                             f"{key.to_python_identifier()!r} (its names hold letters, digits and '_' alone). "
                             f"Give one of them another alias.")

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        # Whatever group a model is in (`gold`, or the one dbt's `group:` or meta.dagster.group names),
        # unless the project gave it a policy of its own.
        if unique_id.split(".")[0] in ("model", "snapshot") and spec.freshness_policy is None:
            return spec.replace_attributes(freshness_policy=GOLD_FRESHNESS)
        return spec

    def get_asset_check_spec(self, asset_spec, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetCheckSpec | None:
        source = manifest["nodes"].get(unique_id, {}).get(ORPHAN_SOURCE_TEST)
        if source:  # (listed under another asset node to be asked for at all: gold/manifest.py)
            asset_spec = self.get_asset_spec(manifest, source, project)
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        version = self._versions.get(unique_id)
        if not spec or not version:
            return spec
        unit = bool(manifest["nodes"].get(unique_id, {}).get("clawdata_unit_test"))  # (gold/manifest.py)
        return spec.with_metadata({**spec.metadata, settings.TEST_VERSION: version, **({settings.UNIT_TEST: True} if unit else {})})

    def get_group_name(self, props: Mapping[str, Any]) -> str | None:
        group = super().get_group_name(props)
        if group or props["resource_type"] == "source":
            return group
        return SEED_GROUP if props["resource_type"] == "seed" else GOLD_GROUP

    def get_code_version(self, props: Mapping[str, Any]) -> str | None:
        return self._versions.get(props.get("unique_id")) or super().get_code_version(props)

    def get_metadata(self, props: Mapping[str, Any]) -> Mapping[str, Any]:
        # dagster-dbt names the table database.schema.alias; every layer names it schema.table here.
        return {**super().get_metadata(props), "dagster/table_name": table_name(props)}


def refuse_collisions(manifest: Mapping[str, Any], sources) -> None:
    """Fail the load, naming both sides, if a dbt node builds the table of a declared source."""
    ours = {}
    for declared in sources:
        for layer, table in (("bronze", declared.spec.bronze), ("silver", declared.spec.silver)):
            ours[table.qualified] = (layer, table.name, declared.path)
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        other = ours.get(table_name(node))
        if other is None:
            continue
        kind, (layer, name, path) = node["resource_type"], other
        raise ValueError(
            f"dbt {kind} '{node['name']}' ({node.get('original_file_path')}) would build table "
            f"{table_name(node)}, which is the {layer} asset '{name}' of the source declared in {path}. "
            f"Rename it, or give it another schema in dbt_project.yml (e.g. "
            f"`{kind}s: {{{node.get('package_name')}: {{+schema: {kind}s}}}}`)."
        )
