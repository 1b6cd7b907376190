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
  (clawdata's change-log macros), or that declares what it recomputes and reads a silver table its
  declaration does not name, changed since it was built (no log names the groups that change
  touched), or under `--full-refresh`: it starts over, alone (dbt's own `full_refresh` model
  config). A model configured `full_refresh: false` never does, as in dbt. A seed whose definition
  changed (its file, its `column_types`) starts over too: dbt would reload it into its old table.
  So does a table no record says how it was built (after a restore, or a plain `dbt build`).
- A node's inputs are the assets it reads, seen through ephemeral models (Graph.parents).
- A node or test whose SQL reads what changes by itself (`current_date`, `now()`, `random()`,
  `read_csv(...)`: gold/manifest.py volatile()) is built or run every time, as `dbt build` does, and
  a built node's data version is new each time, so what reads it is built too.
- A node downstream of a test whose failing result is kept (its nodes unchanged) is not built: `dbt
  build` would skip it behind the test that fails again.
- Every selected test runs when a node it reads is built, or when its own version or its inputs'
  versions differ from those its last result was computed on; otherwise that result is replayed.
- A row-level test reads only the rows that changed (gold/changed_rows.py) when its last result
  passed on the very table the change started from; otherwise, the whole table. Each result says
  what it covers: the test's version, the table's data version and, for silver, its ledger batch.
  On an incremental model built incrementally, the table it started from is its last
  materialization; on silver, the one before this run, and its change log must hold every change
  since the batch that result covered.
"""

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.data_version import NULL_DATA_VERSION, compute_logical_data_version
from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

from clawdata import settings
from clawdata.defs.reuse import DATA_VERSION_TAG, fingerprint
from clawdata.gold.manifest import UNIT_TEST_SUFFIX, is_ephemeral

CODE_VERSION_TAG = "dagster/code_version"
BASIS = "clawdata/basis"  # check metadata: the test version and input versions a result was computed on
COVERS = "clawdata/covers"  # check metadata: the test version and the version of the table it held for
CHECKED_ON = "checked_on"  # check metadata, as silver's audits say it: "changed rows" or "whole table"
# Bump when clawdata changes how a test's result is read (results kept from before are then rerun).
RESULTS_REVISION = 2
VOLATILE = "reads the clock, chance or a file itself"  # why a volatile node is built, though nothing changed


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
    skipped: list[str] = field(default_factory=list)  # node ids not built: downstream of a kept failing test
    # tests this step does not run whose failing result stands on the tables it reads (check key -> run)
    standing: dict[dg.AssetCheckKey, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Graph:
    """The gold multi-asset's view of the prepared manifest."""

    manifest: Mapping[str, Any]
    key_of: Mapping[str, dg.AssetKey]  # node or source id -> asset key
    check_of: Mapping[str, dg.AssetCheckKey]  # test id -> check key
    versions: Mapping[str, str]  # node or test id -> definition version
    volatile: frozenset[str] = frozenset()  # nodes and tests never kept (gold/manifest.py volatile())

    def parents(self, uid: str) -> list[str]:
        """The assets `uid` reads, seen through ephemeral models (not assets: dbt inlines them), as
        dagster-dbt draws the lineage; an ephemeral model's own SQL is in its readers' versions."""
        nodes, found, seen = self.manifest["nodes"], [], set()
        if uid not in nodes:  # a source: what it reads is outside the project
            return []
        pending = list(nodes[uid].get("depends_on", {}).get("nodes", []))
        while pending:
            parent = pending.pop(0)
            if parent in seen:
                continue
            seen.add(parent)
            if parent in self.key_of:
                found.append(parent)
            elif parent in nodes and is_ephemeral(nodes[parent]):
                pending.extend(nodes[parent].get("depends_on", {}).get("nodes", []))
        return found

    def node_of(self) -> dict[dg.AssetKey, str]:
        return {k: uid for uid, k in self.key_of.items() if uid in self.manifest["nodes"]}


@dataclass(frozen=True)
class SilverLog:
    """A silver table's change log, as gold reads it (increments.py)."""

    key: tuple[str, ...]
    last_batch: int
    complete_after: int  # it holds every change made after this batch


def make_plan(context: dg.AssetExecutionContext, graph: Graph, existing_tables: set[str], full: bool,
              restarted: set[str], silver: Mapping[str, SilverLog] | None = None) -> Plan:
    """`existing_tables`: node ids whose table exists; `restarted`: node ids whose change logs
    restarted since they were built; `silver`: the silver tables with change logs, by name."""
    from clawdata.gold import changed_rows
    from clawdata.gold.manifest import topological

    nodes, node_of = graph.manifest["nodes"], graph.node_of()
    selected = topological(graph.manifest, [node_of[k] for k in context.selected_asset_keys if k in node_of])
    check_keys = set(context.selected_asset_check_keys)
    checked = sorted(t for t, check in graph.check_of.items() if check in check_keys)
    unknown = check_keys - set(graph.check_of.values())
    if unknown:  # a check no dbt test runs would read as skipped, every run: a test that failed unseen
        raise dg.Failure(description="dbt tests with no node here, so never run: "
                                     + ", ".join(sorted(k.to_user_string() for k in unknown)))
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
        elif was[0] != versions[uid] or uid in graph.volatile:
            after = [graph.key_of[p].to_user_string() for p in graph.parents(uid) if p in reasons]
            reasons[uid] = (f"after {', '.join(after)}" if after else
                            "modified" if was[1] != graph.versions[uid] else
                            VOLATILE if uid in graph.volatile else "inputs changed")
        if uid in graph.volatile and uid in reasons:  # its rows differ from run to run: so does its version
            versions[uid] = dg.DataVersion(fingerprint(versions[uid].value, context.run.run_id))
        (build if uid in reasons else reuse).append(uid)

    # What changed its definition (its code version) or starts over in this build: the history a
    # downstream incremental model has taken in may no longer hold, so that model starts over too
    # (a seed's edit excepted: its rows are data). The other incremental models with a table build
    # incrementally; dbt's `full_refresh: false` keeps a model from ever starting over.
    silver = silver or {}
    sources = {uid: graph.key_of[uid].to_user_string() for uid in graph.manifest.get("sources", {}) if uid in graph.key_of}

    declarations = {uid: changed_rows.of_model(nodes[uid]) for uid in build}  # what each model says it recomputes

    def undeclared_change(uid: str) -> bool:
        """A silver table the model reads and its declaration leaves out changed since its build."""
        declared = declarations[uid]
        inputs = recorded[graph.key_of[uid]][2] if graph.key_of[uid] in recorded else {}
        return declared is not None and any(
            sources[p] in silver and sources[p] not in declared.tables and inputs.get(graph.key_of[p]) != current(p)
            for p in graph.parents(uid) if p in sources)

    def is_seed(uid: str) -> bool:
        # A seed's new file is new data, not new code: what an incremental model took in from its
        # earlier rows stays, as `dbt build` keeps it (a model keeping a history of a seed's values).
        return nodes.get(uid, {}).get("resource_type") == "seed"

    full_refresh_nodes, rewritten, incrementally = [], set(), []
    for uid in build:
        was = recorded.get(graph.key_of[uid])
        config = nodes[uid].get("config") or {}
        incremental = config.get("materialized") == "incremental"
        # (a table no record of this instance says how it was built, as after a restore or a plain
        # `dbt build`, is treated as another definition's: it starts over rather than be added to)
        unknown = was is None and uid in existing_tables
        if (unknown or (was is not None and was[1] != graph.versions[uid])) and not (
                incremental and config.get("full_refresh") is False):
            rewritten.add(uid)
        if (nodes[uid].get("resource_type") == "seed" and not full and uid in rewritten and uid in existing_tables
                and config.get("full_refresh") is not False):
            full_refresh_nodes.append(uid)  # dbt reloads a seed into its old table: new columns or types would not apply
            continue
        if full or not incremental or uid not in existing_tables:
            continue
        if config.get("full_refresh") is not False and (
                uid in rewritten or uid in restarted or any(p in rewritten and not is_seed(p) for p in graph.parents(uid))
                or undeclared_change(uid)):
            full_refresh_nodes.append(uid)
            rewritten.add(uid)
        else:
            incrementally.append(uid)

    # What changed by rows: models built on the rows their change logs name (from the table their
    # last build left), and silver tables merged by key.
    changes: dict[str, changed_rows.Changes] = {}
    for uid in incrementally:
        declared = declarations[uid]
        if declared and graph.key_of[uid] in recorded and set(declared.tables) <= set(silver):
            changes[uid] = declared
    if not full:
        changes |= {uid: changed_rows.of_silver(table, silver[table].key) for uid, table in sources.items() if table in silver}

    def test_version(test: str) -> str:
        return fingerprint(RESULTS_REVISION, graph.versions.get(test))

    def covers(test: str, table: str, version: dg.DataVersion) -> str:
        batch = silver[sources[table]].last_batch if table in sources and sources[table] in silver else ""
        return f"{test_version(test)}@{version.value}@{batch}"

    @functools.cache
    def before_run(key: dg.AssetKey) -> str | None:
        return _before_run(context, key)

    def started_from(test: str, table: str, last: dg.AssetCheckEvaluation | None) -> bool:
        """Whether `last` passed on the table this change of `table` started from."""
        if last is None or not last.passed:
            return False
        was = str(last.metadata.get(COVERS, _NONE).value)
        if table not in sources:  # an incremental model: from its last materialization
            return was == covers(test, table, recorded[graph.key_of[table]][0])
        tested, version, batch = (was.split("@") + ["", "", ""])[:3]
        log = silver[sources[table]]
        return (tested == test_version(test) and batch.isdigit()
                and log.complete_after <= int(batch) <= log.last_batch
                and version == (before_run(graph.key_of[table]) or "-"))

    tests, replay, bases, covered, where, kept_failures = [], [], {}, {}, {}, []
    history = _recorded_checks(context.instance, [graph.check_of[t] for t in checked])
    for test in checked:
        check, parents = graph.check_of[test], graph.parents(test)
        bases[test] = fingerprint(RESULTS_REVISION, graph.versions.get(test), sorted((graph.key_of[p].to_user_string(), current(p).value) for p in parents))
        last = history.get(check)
        table = nodes[test].get("attached_node")
        if table in graph.key_of:
            covered[test] = covers(test, table, current(table))
        # Checks run alone (picked in the UI, or by the CLI) are asked to run: never replayed.
        if (not selected or any(p in reasons for p in parents) or last is None or test in graph.volatile
                or str(last.metadata.get(BASIS, _NONE).value) != bases[test]):
            tests.append(test)
            # (a check run alone reads the whole table: whoever asks for it wants the whole answer)
            if (selected and table in changes and changed_rows.row_level(nodes[test], changes[table])
                    and started_from(test, table, last)):
                where[test] = changed_rows.scoped_where(nodes[test], changes[table])
        else:
            replay.append(dg.AssetCheckResult(
                asset_key=check.asset_key, check_name=check.name, passed=last.passed, severity=last.severity,
                description=last.description,
                metadata={**last.metadata, "reused": True, settings.TEST_VERSION: graph.versions.get(test, "")},
            ))
            if not last.passed and last.severity == dg.AssetCheckSeverity.ERROR:
                kept_failures.append(test)
    standing = _standing_failures(context, graph, [t for t in graph.check_of if t not in checked], build, reasons, recorded)
    skipped = _skipped_after(graph, build, kept_failures + list(standing))
    build_wanted, build = build, [uid for uid in build if uid not in skipped]
    # `dbt build` runs a unit test only with its model (selected alone, it is "nothing to do"): a unit
    # test to run brings in the model it would reuse. Its data version stays: what reads it is reused.
    for test in tests:
        model = nodes[test].get("attached_node")
        if test.endswith(UNIT_TEST_SUFFIX) and model in reuse and model not in skipped:
            reuse.remove(model)
            build.append(model)
            reasons[model] = "its unit test changed"
    in_build = set(build)
    build = [uid for uid in selected if uid in in_build]  # dbt's order
    # (a unit test needs no table: it runs, as in dbt)
    tests = [t for t in tests if t.endswith(UNIT_TEST_SUFFIX) or not any(p in skipped for p in graph.parents(t))]
    held = {t: run for t, run in standing.items() if _skipped_after(graph, build_wanted, [t])}
    return Plan(build, reuse, tests, replay, versions, bases, full_refresh_nodes, reasons, covered, where,
                [uid for uid in selected if uid in skipped], {graph.check_of[t]: run for t, run in held.items()})


def _standing_failures(context: dg.AssetExecutionContext, graph: Graph, unchecked: list[str], build: list[str],
                       reasons: Mapping[str, str], recorded: dict) -> dict[str, str]:
    """The tests this step does not run, on nodes it does not build but builds downstream of (a run
    of what is below them alone: the inbox sensor's, `materialize MODEL`), whose last result failed
    (error severity) on those nodes' current tables: test id -> the run of that result. `dbt build`
    of the whole project would skip what they hold back; so does this step. `recorded` gains their
    nodes' records."""
    nodes, upstream = graph.manifest["nodes"], _ancestors(graph)
    below = frozenset().union(*(upstream(u) for u in build)) if build else frozenset()
    candidates = [t for t in unchecked if graph.parents(t) and set(graph.parents(t)) <= below
                  and not any(p in reasons for p in graph.parents(t))
                  and str((nodes.get(t, {}).get("config") or {}).get("severity", "error")).lower() == "error"]
    if not candidates:
        return {}
    recorded.update(_recorded(context.instance, {graph.key_of[p] for t in candidates for p in graph.parents(t)} - set(recorded)))
    history = _recorded_checks(context.instance, [graph.check_of[t] for t in candidates])
    found = {}
    for test in candidates:
        last = history.get(graph.check_of[test])
        now = fingerprint(RESULTS_REVISION, graph.versions.get(test), sorted(
            (graph.key_of[p].to_user_string(), recorded.get(graph.key_of[p], (NULL_DATA_VERSION,))[0].value)
            for p in graph.parents(test)))
        if (last is not None and not last.passed and last.severity == dg.AssetCheckSeverity.ERROR
                and str(last.metadata.get(BASIS, _NONE).value) == now):
            found[test] = str((last.target_materialization_data.run_id if last.target_materialization_data else "") or "")
    return found


def _ancestors(graph: Graph):
    """uid -> every node it reads, directly or through others (memoised for one plan)."""
    @functools.cache
    def upstream(uid: str) -> frozenset[str]:
        return frozenset(p for parent in graph.parents(uid) for p in (parent, *upstream(parent)))

    return upstream


def _skipped_after(graph: Graph, build: list[str], failing_tests: list[str]) -> set[str]:
    """What `dbt build` skips behind tests that fail (kept results, their nodes not built again): a
    node downstream of all of a failing test's parents, and what is downstream of a skipped node."""
    if not failing_tests:
        return set()
    upstream = _ancestors(graph)
    blocking = [set(graph.parents(t)) for t in failing_tests]
    skipped: set[str] = set()
    for uid in build:  # in dbt's order: a node's parents come first
        if any(parents and parents <= upstream(uid) for parents in blocking) or any(p in skipped for p in graph.parents(uid)):
            skipped.add(uid)
    return skipped


def _before_run(context: dg.AssetExecutionContext, key: dg.AssetKey) -> str | None:
    """The data version of `key`'s latest materialization by another run than this one."""
    for record in context.instance.fetch_materializations(key, limit=5).records:
        if record.run_id != context.run.run_id:
            materialization = record.asset_materialization
            return ((materialization.tags or {}) if materialization else {}).get(DATA_VERSION_TAG)
    return None


class _Missing:
    value = None


_NONE = _Missing()


def _recorded(instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey]
              ) -> dict[dg.AssetKey, tuple[dg.DataVersion, str | None, Mapping[dg.AssetKey, dg.DataVersion]]]:
    """(data version, code version, its inputs' data versions) of each key's latest materialization."""
    found = {}
    for key, entry in instance.get_latest_materialization_events(list(keys)).items():
        tags = (entry.tags or {}) if entry else {}
        if tags.get(DATA_VERSION_TAG):
            provenance = dg.DataProvenance.from_tags(tags)
            found[key] = (dg.DataVersion(tags[DATA_VERSION_TAG]), tags.get(CODE_VERSION_TAG),
                          provenance.input_data_versions if provenance else {})
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
