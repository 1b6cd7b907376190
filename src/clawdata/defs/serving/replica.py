"""The `warehouse_replica` asset: publishes silver and gold to the read path after they change.

It depends on every silver and gold asset, so it is the last step of any run that selects them
(`materialize --all`, the schedule, the inbox sensor's runs) and is skipped when one of them fails:
a failed run publishes nothing. Runs that build only some of them (a subset picked in the UI) are
followed by a run of this asset alone, requested by its eager automation condition.

It joins the warehouse pool, so it reads the warehouse while holding the writer slot. Between two
steps of a run, another run's step may write, though; so before copying it checks, from Dagster's
own data versions, that no served table is older than a served table it is built from (e.g. new
silver but gold not yet rebuilt). If one is, the warehouse holds a half-finished run (or a failed
one) and nothing is published: the replica keeps its last consistent version, and the run that
finishes the work publishes it.
"""

import os
import time
from collections.abc import Sequence

import dagster as dg
# no public names; tests/test_private_apis.py
from dagster._core.definitions.data_version import CODE_VERSION_TAG, DATA_VERSION_TAG, get_input_data_version_tag
from dagster_duckdb import DuckDBResource

from clawdata import settings
from clawdata.defs.reuse import full_refresh
from clawdata.listing import few
from clawdata.warehouse import replica

ASSET = settings.REPLICA_ASSET
UNSERVED_GROUPS = ("bronze", "serving")  # as delivered, and this asset itself
INTERVAL_SECONDS = int(os.environ.get("CLAWDATA_SENSOR_INTERVAL_SECONDS", "30"))


def served_keys(graph) -> list[dg.AssetKey]:
    """Silver and everything built from it: dbt's models, seeds and snapshots, whatever their group."""
    return sorted(k for k in graph.materializable_asset_keys if graph.get(k).group_name not in UNSERVED_GROUPS)


def owned_tables(graph, keys: Sequence[dg.AssetKey]) -> list[str]:
    """"schema.table" of each served asset (its `dagster/table_name`: dbt's names the database too)."""
    names = (str(graph.get(k).metadata.get("dagster/table_name") or "") for k in keys)
    return sorted({".".join(name.split(".")[-2:]) for name in names if name.count(".") >= 1})


def half_finished(instance: dg.DagsterInstance, graph, resolver, keys: Sequence[dg.AssetKey]) -> list[str]:
    """Served assets whose served inputs changed after they were last built (Dagster's stale causes
    of category DATA, restricted to edges between served assets; code changes and bronze-only
    changes do not make the served tables disagree with each other). An input rebuilt from the same
    code and the same inputs is no change: a view reading `current_timestamp` is rebuilt every run,
    and a model that failed below it keeps a table as true to it as any table ever is."""
    from dagster._core.definitions.data_version import StaleCauseCategory

    served, same = set(keys), _SameButForTheClock(instance, graph)
    return sorted({
        f"{key.to_user_string()} is older than {cause.dependency_asset_key.to_user_string()}"
        for key in keys
        for cause in resolver.get_stale_causes(key)
        if cause.category == StaleCauseCategory.DATA and cause.dependency_asset_key in served
        and not same.as_read_by(key, cause.dependency_asset_key)
    })


class _SameButForTheClock:
    """Whether two data versions of an asset differ only because it was built again from the same code
    and inputs (a node dbt recomputes every run gets a new version each time: gold/plan.py), down to
    the roots, whose versions are their data. Read from the assets' recent materializations' tags."""

    RECENT = 50  # builds of an asset looked through for the version a child read

    def __init__(self, instance: dg.DagsterInstance, graph):
        self._instance, self._graph, self._tags, self._known = instance, graph, {}, {}

    def as_read_by(self, child: dg.AssetKey, parent: dg.AssetKey) -> bool:
        read, now = self._latest(child).get(get_input_data_version_tag(parent)), self._latest(parent).get(DATA_VERSION_TAG)
        return read is not None and now is not None and self._same(parent, read, now)

    def _latest(self, key: dg.AssetKey) -> dict:
        builds = self._builds(key)
        return builds[0] if builds else {}

    def _builds(self, key: dg.AssetKey) -> list[dict]:
        if key not in self._tags:
            records = self._instance.fetch_materializations(key, limit=self.RECENT).records
            self._tags[key] = [dict(r.asset_materialization.tags or {}) for r in records if r.asset_materialization]
        return self._tags[key]

    def _same(self, key: dg.AssetKey, one: str | None, other: str | None) -> bool:
        if one == other:
            return True
        if (key, one, other) not in self._known:
            self._known[(key, one, other)] = self._rebuilt_alike(key, one, other)
        return self._known[(key, one, other)]

    def _rebuilt_alike(self, key: dg.AssetKey, one: str | None, other: str | None) -> bool:
        parents = self._graph.get(key).parent_keys if self._graph.has(key) else set()
        builds = {t.get(DATA_VERSION_TAG): t for t in reversed(self._builds(key))}
        a, b = builds.get(one), builds.get(other)
        if not parents or a is None or b is None or a.get(CODE_VERSION_TAG) != b.get(CODE_VERSION_TAG):
            return False
        return all(self._same(p, a.get(get_input_data_version_tag(p)), b.get(get_input_data_version_tag(p))) for p in parents)


# Dagster's eager(), but a parent updated by a run that also planned the replica counts too: eager
# ignores such updates (that run publishes them), and a run whose gold step failed updated silver and
# the models that built, skipped the replica, and left the read path stale until the next edit. A
# run that does publish updates the replica after its parents, which resets the condition (its reset
# wins when it is later: Dagster's `since`), so nothing is published twice. The label replaced is
# Dagster's own, inside eager(): renamed in an upgrade, nothing is replaced and tests/test_replica.py
# (a run that planned the replica and failed before it) fails.
PUBLISH_CONDITION = dg.AutomationCondition.eager().replace(
    "newly_updated_without_root", dg.AutomationCondition.newly_updated().with_label("newly_updated"))


def replica_asset(graph) -> dg.AssetsDefinition:
    """`graph`: the asset graph of everything upstream (a subset run's own graph lacks the assets it
    did not select, whose staleness is the point)."""
    keys = served_keys(graph)

    @dg.asset(
        name=ASSET,
        group_name="serving",
        description="Read-only copy of the silver and gold tables for readers (`clawdata sql`, BI tools, "
                    "backups), replaced atomically after each run that changed them.",
        kinds={"duckdb"},
        deps=list(keys),
        pool=settings.WAREHOUSE_POOL,
        output_required=False,  # not materialized when the warehouse is half-way through a run
        automation_condition=PUBLISH_CONDITION,
    )
    def warehouse_replica(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        _hold_for_tests(context)
        # Dagster's own staleness resolver (what the UI's "stale" badge shows); it needs a
        # LoadingContext, and the one Dagster ships for use outside a webserver request is this one.
        from dagster._core.definitions.data_version import CachingStaleStatusResolver
        from dagster._core.loader import LoadingContextForTest

        resolver = CachingStaleStatusResolver(context.instance, graph, LoadingContextForTest(context.instance))
        behind = half_finished(context.instance, graph, resolver, keys)
        path = settings.replica_path()
        if behind:
            # (Behind: another run has written silver and not yet its gold, or a model failed on new data
            # and holds its readers; "half-way through a run" sent a user looking for a run after the latter.)
            context.log.warning("replica not published: served tables are older than what they are built from, "
                                f"until a run builds them again: {'; '.join(behind)}")
            # Said on the asset too (the CLI's "not built" line, `status`): readers are served an older
            # generation, and a run that published nothing had looked like one that did.
            served = replica.read_snapshot(path) if path.is_file() else None
            yield dg.AssetObservation(asset_key=context.asset_key, metadata={settings.NOT_BUILT_METADATA: (
                f"not published until a run builds them again: {few(behind, 2)}; readers get "
                + (f"generation {served.generation} of {served.published_at:%Y-%m-%d %H:%M} UTC" if served else "nothing yet"))})
            return
        # Partitioned assets have a version per partition: with any, always publish.
        versions = None if any(graph.get(k).is_partitioned for k in keys) else \
            {k.to_user_string(): resolver.get_current_data_version(k).value for k in keys}
        current = replica.read_snapshot(path) if path.is_file() else None
        if current is not None and versions and current.versions == versions and not full_refresh(context):  # already published
            yield dg.MaterializeResult(metadata={"generation": current.generation, "reused": True,
                                                 "dagster/row_count": sum(current.tables.values())})
            return
        snapshot = replica.publish(duckdb.database, path, context.run.run_id, versions, owned=owned_tables(graph, keys))
        context.log.info(f"published {snapshot.describe()} in {snapshot.seconds:.2f} s")
        if snapshot.unreadable:
            context.log.warning(f"views that read nothing that exists (served as they are; drop them if they are "
                                f"left from a deleted model): {', '.join(snapshot.unreadable)}")
        yield dg.MaterializeResult(metadata={
            "dagster/row_count": sum(snapshot.tables.values()),
            "reused": False,
            "path": dg.MetadataValue.path(str(path)),
            "generation": snapshot.generation,
            "tables": dg.MetadataValue.json(snapshot.tables),
            "publish_seconds": dg.MetadataValue.float(round(snapshot.seconds, 3)),
            "bytes": snapshot.bytes,
        })

    return warehouse_replica


HOLD_ENV = "CLAWDATA_HOLD_BEFORE_PUBLISH"


def _hold_for_tests(context: dg.AssetExecutionContext, most_seconds: float = 900) -> None:
    """Tests only (empty in every deployment): wait while the file CLAWDATA_HOLD_BEFORE_PUBLISH
    names exists, so a test can hold a run between silver and the publish (the mid-run backup)."""
    hold = os.environ.get(HOLD_ENV)
    if not hold or not os.path.exists(hold):
        return
    context.log.warning(f"held before publishing while {hold} exists ({HOLD_ENV}, a test hook)")
    deadline = time.monotonic() + most_seconds
    while os.path.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.5)


def build_defs(upstream: dg.Definitions) -> dg.Definitions:
    """The replica asset over `upstream`'s silver and gold assets, and the sensor that evaluates its
    automation condition (Dagster's default one starts stopped)."""
    asset = replica_asset(upstream.resolve_asset_graph())
    sensor = dg.AutomationConditionSensorDefinition(
        "replica_sensor", target=[asset], default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=INTERVAL_SECONDS,
        description="Publishes the replica after runs that changed silver or gold without publishing it.",
    )
    return dg.Definitions(assets=[asset], sensors=[sensor])

