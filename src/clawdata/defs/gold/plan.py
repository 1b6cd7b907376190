"""What a gold step builds, keeps and tests, decided as dbt's state comparison would decide it.

- Every gold asset's data version is Dagster's logical one: its code version (its dbt definition,
  macros and vars included: gold/manifest.py) hashed with its inputs' data versions. A node whose
  recorded version differs from the version it would have now is modified, or reads something that
  changed; it is built, and so is everything selected downstream of it (`state:modified+`), because
  their versions move with it. The rest keeps its table: reused, in dbt's order (a reused node is
  never downstream of a built one).
- Incremental models build incrementally, as `dbt build` would, except a model whose own definition
  changed since its table was built, or that reads a node whose definition changed or that started
  over (what it took in before may no longer hold), or whose silver change log restarted
  (clawdata's change-log macros), or under `--full-refresh`: it starts over, alone (dbt's own
  `full_refresh` model config). A model configured `full_refresh: false` never does, as in dbt.
- Every selected test runs when a node it reads is built, or when its own version or its inputs'
  versions differ from those its last result was computed on; otherwise that result is replayed.
- A row-level test of a model built incrementally reads only the rows the build recomputed
  (gold/changed_rows.py), if its last result passed on the very table this build started from (its
  `covers`: the test's version with the model's data version); otherwise, the whole table.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.data_version import NULL_DATA_VERSION, compute_logical_data_version
from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

from clawdata.defs.reuse import DATA_VERSION_TAG, fingerprint

CODE_VERSION_TAG = "dagster/code_version"
BASIS = "clawdata/basis"  # check metadata: the test version and input versions a result was computed on
COVERS = "clawdata/covers"  # check metadata: the test version and the version of the table it held for
CHECKED_ON = "checked_on"  # check metadata, as silver's audits say it: "changed rows" or "whole table"
# Bump when clawdata changes how a test's result is read (results kept from before are then rerun).
RESULTS_REVISION = 2


@dataclass
class Plan:
    build: list[str]  # node ids, in dbt's order
    reuse: list[str]  # node ids, in dbt's order
    tests: list[str]  # test ids to run
    replay: list[dg.AssetCheckResult]
    versions: dict[str, dg.DataVersion]  # node id -> its data version once this step is done
    bases: dict[str, str]  # test id -> its basis
    full_refresh_nodes: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # node id -> why it is built
    covers: dict[str, str] = field(default_factory=dict)  # test id -> its COVERS once it passes
    where: dict[str, str] = field(default_factory=dict)  # test id -> its `where` on the changed rows


@dataclass(frozen=True)
class Graph:
    """The gold multi-asset's view of the prepared manifest."""

    manifest: Mapping[str, Any]
    key_of: Mapping[str, dg.AssetKey]  # node or source id -> asset key
    check_of: Mapping[str, dg.AssetCheckKey]  # test id -> check key
    versions: Mapping[str, str]  # node or test id -> definition version

    def parents(self, uid: str) -> list[str]:
        return [p for p in self.manifest["nodes"][uid].get("depends_on", {}).get("nodes", []) if p in self.key_of]

    def node_of(self) -> dict[dg.AssetKey, str]:
        return {k: uid for uid, k in self.key_of.items() if uid in self.manifest["nodes"]}


def make_plan(context: dg.AssetExecutionContext, graph: Graph, existing_tables: set[str], full: bool,
              restarted: set[str], change_logs: set[str] = frozenset()) -> Plan:
    """`existing_tables`: node ids whose table exists; `restarted`: node ids whose change logs
    restarted since they were built; `change_logs`: the silver tables whose change logs exist."""
    from clawdata.gold import changed_rows
    from clawdata.gold.manifest import topological

    nodes, node_of = graph.manifest["nodes"], graph.node_of()
    selected = topological(graph.manifest, [node_of[k] for k in context.selected_asset_keys if k in node_of])
    check_keys = set(context.selected_asset_check_keys)
    checked = sorted(t for t, check in graph.check_of.items() if check in check_keys)
    wanted = {graph.key_of[p] for uid in [*selected, *checked] for p in graph.parents(uid)} | {graph.key_of[u] for u in selected}
    recorded = _recorded(context.instance, wanted)

    versions: dict[str, dg.DataVersion] = {}
    build, reuse, reasons = [], [], {}

    def current(uid: str) -> dg.DataVersion:
        return versions.get(uid) or recorded.get(graph.key_of[uid], (NULL_DATA_VERSION, None))[0]

    for uid in selected:
        inputs = {graph.key_of[p]: current(p) for p in graph.parents(uid)}
        versions[uid] = compute_logical_data_version(graph.versions[uid], inputs)
        was = recorded.get(graph.key_of[uid])
        if full:
            reasons[uid] = "--full-refresh"
        elif was is None:
            reasons[uid] = "never built"
        elif uid not in existing_tables:
            reasons[uid] = "no table"
        elif was[0] != versions[uid]:
            after = [graph.key_of[p].to_user_string() for p in graph.parents(uid) if p in reasons]
            reasons[uid] = (f"after {', '.join(after)}" if after else
                            "modified" if was[1] != graph.versions[uid] else "inputs changed")
        (build if uid in reasons else reuse).append(uid)

    # What changed its definition (its code version) or starts over in this build: the history a
    # downstream incremental model has taken in may no longer hold, so that model starts over too.
    full_refresh_nodes, rewritten = [], set()
    for uid in build:
        was = recorded.get(graph.key_of[uid])
        config = nodes[uid].get("config") or {}
        incremental = config.get("materialized") == "incremental"
        if was is not None and was[1] != graph.versions[uid] and not (incremental and config.get("full_refresh") is False):
            rewritten.add(uid)
        if full or not incremental or config.get("full_refresh") is False or uid not in existing_tables:
            continue
        if uid in rewritten or uid in restarted or any(p in rewritten for p in graph.parents(uid)):
            full_refresh_nodes.append(uid)
            rewritten.add(uid)

    # Models built on the rows their change logs name, from the table their last build left.
    incremental = {uid for uid in build if not full and uid in existing_tables and uid not in full_refresh_nodes
                   and (nodes[uid].get("config") or {}).get("materialized") == "incremental"
                   and graph.key_of[uid] in recorded and changed_rows.declaration(nodes[uid])
                   and set(changed_rows.change_logs(nodes[uid])) <= set(change_logs)}

    tests, replay, bases, covers, where = [], [], {}, {}, {}
    history = _recorded_checks(context.instance, [graph.check_of[t] for t in checked])
    for test in checked:
        check, parents = graph.check_of[test], graph.parents(test)
        bases[test] = fingerprint(RESULTS_REVISION, graph.versions.get(test), sorted((graph.key_of[p].to_user_string(), current(p).value) for p in parents))
        last = history.get(check)
        model = nodes[test].get("attached_node")
        if model in graph.key_of and model in nodes:
            covers[test] = _covers(graph, test, current(model))
        # Checks run alone (picked in the UI, or by the CLI) are asked to run: never replayed.
        if (not selected or any(p in reasons for p in parents) or last is None
                or str(last.metadata.get(BASIS, _NONE).value) != bases[test]):
            tests.append(test)
            if (model in incremental and last is not None and last.passed
                    and str(last.metadata.get(COVERS, _NONE).value) == _covers(graph, test, recorded[graph.key_of[model]][0])
                    and changed_rows.row_level(nodes[test], nodes[model])):
                where[test] = changed_rows.scoped_where(nodes[test], nodes[model])
        else:
            replay.append(dg.AssetCheckResult(
                asset_key=check.asset_key, check_name=check.name, passed=last.passed, severity=last.severity,
                description=last.description, metadata={**last.metadata, "reused": True},
            ))
    return Plan(build, reuse, tests, replay, versions, bases, full_refresh_nodes, reasons, covers, where)


def _covers(graph: Graph, test: str, table_version: dg.DataVersion) -> str:
    return fingerprint(RESULTS_REVISION, graph.versions.get(test), table_version.value)


class _Missing:
    value = None


_NONE = _Missing()


def _recorded(instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey]) -> dict[dg.AssetKey, tuple[dg.DataVersion, str | None]]:
    """(data version, code version) of each key's latest materialization."""
    found = {}
    for key, entry in instance.get_latest_materialization_events(list(keys)).items():
        tags = (entry.tags or {}) if entry else {}
        if tags.get(DATA_VERSION_TAG):
            found[key] = (dg.DataVersion(tags[DATA_VERSION_TAG]), tags.get(CODE_VERSION_TAG))
    return found


def _recorded_checks(instance: dg.DagsterInstance, keys: Iterable[dg.AssetCheckKey]) -> dict[dg.AssetCheckKey, dg.AssetCheckEvaluation]:
    """The last completed evaluation of each check (this run's own is only planned yet)."""
    storage, done, found = instance.event_log_storage, set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES), {}
    for key in keys:
        records = storage.get_asset_check_execution_history(key, limit=1, status=done)
        event = records[0].event if records else None
        evaluation = event.dagster_event.event_specific_data if event and event.dagster_event else None
        if isinstance(evaluation, dg.AssetCheckEvaluation):
            found[key] = evaluation
    return found
