"""The private APIs clawdata relies on, each with why, checked so that an upgrade of Dagster,
dagster-dbt or dbt-duckdb that moves or changes one fails here, loudly and by name, instead of in a
user's run. Every `dagster._` import and every override of a private member in src/ and deploy/ is
listed; test_every_private_use_is_listed keeps the list complete."""

import inspect
import re
import time
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]

# (module, name, why it is needed)
PRIVATE = [
    ("dagster._core.definitions.data_version", "compute_logical_data_version",
     "gold/plan.py computes each gold asset's data version before dbt runs, as Dagster would, so a "
     "test's basis (its inputs' versions) is known in advance and reuse compares like with like"),
    ("dagster._core.definitions.data_version", "NULL_DATA_VERSION", "what Dagster uses for an input never materialized"),
    ("dagster._core.definitions.data_version", "CODE_VERSION_TAG",
     "defs/automation/inbox_sensor.py: which code built an asset's latest materialization (an edit is out of date)"),
    ("dagster._core.definitions.data_version", "DATA_VERSION_TAG",
     "defs/automation/inbox_sensor.py: an asset's data version, as its latest materialization records it"),
    ("dagster._core.definitions.data_version", "get_input_data_version_tag",
     "the same: what a build read (an asset whose input changed since is out of date, Dagster's own rule)"),
    ("dagster._core.storage.asset_check_execution_record", "COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES",
     "gold/plan.py reads a check's last completed result (this run's own is only planned)"),
    ("dagster._core.definitions.data_version", "StaleCauseCategory",
     "serving/replica.py: only data staleness between served assets keeps the replica from publishing"),
    ("dagster._core.definitions.data_version", "CachingStaleStatusResolver",
     "serving/replica.py: Dagster's own staleness (the UI's stale badge), outside a webserver request"),
    ("dagster._core.loader", "LoadingContextForTest", "the loading context that resolver needs outside the webserver"),
    ("dagster._core.storage.tags", "WILL_RETRY_TAG",
     "defs/automation/inbox_sensor.py: a failed run Dagster is about to retry builds what it selected (not asked twice)"),
    ("dagster._core.storage.tags", "PARENT_RUN_ID_TAG", "the same: whether that retry exists yet"),
    ("dagster._core.remote_representation.external_data", "RepositorySnap",
     "cli/definitions_snapshot.py: what `status` needs of the definitions, taken from the record Dagster's "
     "GraphQL answers from, when a command has loaded them (tests/test_local_pipeline.py: the same answer)"),
    ("dagster._core.definitions.freshness", "TimeWindowFreshnessPolicy", "the same: an asset's freshness window"),
    ("dagster._core.workspace.context", "WorkspaceProcessContext",
     "cli/graphql.py: the local instance answers the same GraphQL documents as a deployment"),
    ("dagster._core.workspace.load_target", "InProcessWorkspaceLoadTarget", "the code location loaded in the CLI's process"),
    ("dagster._core.remote_origin", "InProcessCodeLocationOrigin", "the code location named `clawdata`, in-process"),
    ("dagster._core.types.loadable_target_origin", "LoadableTargetOrigin", "the module and attribute of that location"),
    ("dagster._core.definitions.reconstruct", "ReconstructableRepository",
     "cli/local.py executes runs in the CLI's process (the embedded default: no daemon, no gRPC)"),
    ("dagster._core.execution.api", "execute_run_iterator", "its events, as they happen, for the CLI's progress lines"),
    ("dagster._core.execution.api", "create_execution_plan",
     "cli/local.py makes a run with a check selection (create_run_for_job records none): its plan"),
    ("dagster._core.snap", "snapshot_from_execution_plan", "the same: the plan's snapshot the run keeps"),
    ("dagster._core.remote_origin", "RemoteJobOrigin", "a CLI run belongs to the code location `clawdata`, as a UI run does"),
    ("dagster._core.remote_origin", "RemoteRepositoryOrigin", "the same"),
    ("dagster._core.storage.event_log.schema", "ConcurrencySlotsTable",
     "deploy/clawdata_storage.py: the atomic claim of the warehouse pool's one slot"),
    ("dagster._core.storage.sqlalchemy_compat", "db_select", "the same"),
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage",
     "cli/local_storage.py: the local instance's event log keeps its SQLite connections open (3x cheaper writes)"),
    ("dagster._utils.concurrency", "ConcurrencySlotStatus", "the same"),
    ("dagster._utils.schedules", "cron_string_iterator",
     "cli/records.py: a schedule's next tick in `status` without loading the code, as the scheduler computes it"),
    ("dagster._daemon.controller", "get_daemon_statuses",
     "cli/records.py: daemon health in `status` by Dagster's own rule (heartbeat interval and tolerance)"),
    ("dagster._core.execution.plan.instance_concurrency_context", "InstanceConcurrencyContext",
     "pool_wait.py: a run waiting for the warehouse slot sleeps between claim checks and heeds interrupts"),
    ("dagster._utils.interrupts", "check_captured_interrupt", "the same: an interrupt Dagster deferred while the run waits"),
    ("dagster_dbt.asset_utils", "get_asset_check_key_for_test",
     "defs/gold/assets.py: which check a dbt test reports to (dagster-dbt's own rule)"),
    ("dagster_dbt.core.dbt_cli_event", "DbtCoreCliEventMessage",
     "defs/gold/assets.py turns the events of dbt run in-process into dagster-dbt's own Dagster events"),
    ("dagster_dbt.compat", "DBT_PYTHON_VERSION",
     "gold/dbt_core.py: whether this process's dagster-dbt was imported without dbt-core (no selectors then)"),
]


@pytest.mark.parametrize("module, name, why", PRIVATE, ids=[f"{m}.{n}" for m, n, _ in PRIVATE])
def test_private_import_still_exists(module, name, why):
    imported = __import__(module, fromlist=[name])
    assert hasattr(imported, name), f"{module}.{name} is gone; clawdata needs it: {why}"


def test_every_private_use_is_listed():
    listed = {(m, n) for m, n, _ in PRIVATE}
    pattern = re.compile(r"from (dagster\._[\w.]+|dagster_dbt\.(?:asset_utils|core\.[\w.]+)) import ([\w, ]+)")
    found = set()
    for path in [*ROOT.glob("src/**/*.py"), *ROOT.glob("deploy/*.py")]:
        for module, names in pattern.findall(path.read_text()):
            found |= {(module, n.strip()) for n in names.split(",") if n.strip()}
    assert found <= listed, f"private APIs used but not listed here (say why, and check them): {sorted(found - listed)}"


def test_compute_logical_data_version_is_what_dagster_records():
    """Reuse compares versions clawdata computes with versions Dagster recorded: same formula."""
    from dagster._core.definitions.data_version import compute_logical_data_version

    @dg.asset(code_version="up-1")
    def up():
        return 1

    @dg.asset(code_version="down-7")
    def down(up):
        return up + 1

    with dg.instance_for_test() as instance:
        dg.materialize([up, down], instance=instance)
        recorded = {k: instance.get_latest_data_version_record(dg.AssetKey(k)).asset_materialization.tags["dagster/data_version"]
                    for k in ("up", "down")}
    assert compute_logical_data_version("down-7", {dg.AssetKey("up"): dg.DataVersion(recorded["up"])}).value == recorded["down"]


def test_a_materialization_records_the_data_versions_it_read():
    """The inbox sensor asks again for an asset whose input's data version is not the one it read."""
    from dagster._core.definitions.data_version import DATA_VERSION_TAG, get_input_data_version_tag

    @dg.asset
    def first():
        return dg.Output(1, data_version=dg.DataVersion("v1"))

    @dg.asset(deps=[first])
    def second():
        return 2

    with dg.instance_for_test() as instance:
        dg.materialize([first, second], instance=instance)
        events = instance.get_latest_materialization_events([dg.AssetKey("first"), dg.AssetKey("second")])
    assert events[dg.AssetKey("first")].asset_materialization.tags[DATA_VERSION_TAG] == "v1"
    assert events[dg.AssetKey("second")].asset_materialization.tags[get_input_data_version_tag(dg.AssetKey("first"))] == "v1"
    # `status` reads them by name (it imports no Dagster): the names must stay Dagster's
    from clawdata.cli import status

    assert status.DATA_VERSION_TAG == DATA_VERSION_TAG
    assert status.INPUT_DATA_VERSION_TAG.format("a/b") == get_input_data_version_tag(dg.AssetKey(["a", "b"]))


def test_a_materialization_carries_the_code_version_it_was_built_by():
    """The inbox sensor asks again for an asset built by other code than it has now."""
    from dagster._core.definitions.data_version import CODE_VERSION_TAG

    @dg.asset(code_version="v-3")
    def versioned():
        return 1

    with dg.instance_for_test() as instance:
        dg.materialize([versioned], instance=instance)
        event = instance.get_latest_materialization_events([dg.AssetKey("versioned")])[dg.AssetKey("versioned")]
    assert event.asset_materialization.tags[CODE_VERSION_TAG] == "v-3"


def test_dbt_event_conversion_takes_a_raw_event_and_the_manifest():
    from dagster_dbt.asset_utils import get_asset_check_key_for_test
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

    assert list(inspect.signature(DbtCoreCliEventMessage).parameters) == ["raw_event", "event_history_metadata"]
    parameters = inspect.signature(DbtCoreCliEventMessage.to_default_asset_events).parameters
    assert {"manifest", "dagster_dbt_translator", "context", "project"} <= set(parameters)
    assert list(inspect.signature(get_asset_check_key_for_test).parameters) == \
        ["manifest", "dagster_dbt_translator", "test_unique_id", "project"]
    # Unit tests are not results to dagster-dbt: clawdata reports them itself (defs/gold/assets.py).
    event = DbtCoreCliEventMessage(raw_event={"info": {"name": "LogTestResult", "msg": ""},
                                              "data": {"node_info": {"unique_id": "unit_test.p.m.t"}}},
                                   event_history_metadata={})
    assert not event.is_result_event


def test_dbt_duckdb_keeps_its_database_where_the_runner_closes_it():
    """gold/runner.py reads row counts on dbt-duckdb's open database and closes it after a build
    (dbt-duckdb keeps it open by default, holding the file)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from dbt.adapters.duckdb.environments.local import LocalEnvironment

    assert hasattr(DuckDBConnectionManager, "_ENV") and hasattr(DuckDBConnectionManager, "close_all_connections")
    assert DuckDBCredentials.__dataclass_fields__["keep_open"].default is True, "keep_open changed: revisit close_dbt_duckdb"
    assert "conn" in inspect.getsource(LocalEnvironment.__init__) and callable(LocalEnvironment.close)


def test_the_claim_override_matches_the_storage_it_overrides():
    """deploy/clawdata_storage.py replaces PostgresEventLogStorage._claim_concurrency_slot."""
    from dagster_postgres.event_log import PostgresEventLogStorage

    base = inspect.signature(PostgresEventLogStorage._claim_concurrency_slot)
    assert list(base.parameters) == ["self", "concurrency_key", "run_id", "step_key"]
    # The public claim goes through the private one, or the override would change nothing.
    assert "self._claim_concurrency_slot(" in inspect.getsource(PostgresEventLogStorage.claim_concurrency_slot)
    assert hasattr(PostgresEventLogStorage, "from_config_value")


def test_the_pool_wait_replaces_what_dagster_sleeps_by():
    """pool_wait.py replaces InstanceConcurrencyContext.interval_to_next_pending_claim_check, the only
    sleep of the in-process executor's loop while a step waits for its pool, and reads the context's
    pending claims, instance and run. If Dagster's own interval is no longer `min([0, ...])` (never a
    sleep), its wait was fixed: keep only the interrupt of pool_wait.py."""
    from dagster._core.execution.plan import active, execute_plan, instance_concurrency_context as icc

    import clawdata.pool_wait  # noqa: F401

    assert "min([0, *[ready_at - now for ready_at in self._pending_timeouts.values()]])" in inspect.getsource(icc)
    assert "active_execution.sleep_til_ready()" in inspect.getsource(execute_plan.inner_plan_execution_iterator)
    assert "interval_to_next_pending_claim_check()" in inspect.getsource(active.ActiveExecution.sleep_interval)
    assert "time.sleep(sleep_amt)" in inspect.getsource(active.ActiveExecution.sleep_til_ready)
    init = inspect.getsource(icc.InstanceConcurrencyContext.__init__)
    assert all(f"self.{name} =" in init for name in ("_instance", "_run_id", "_pending_timeouts", "_pending_claims"))

    with dg.instance_for_test() as instance:
        context = icc.InstanceConcurrencyContext(instance, dg.DagsterRun(job_name="j", run_id="r"))
        context._pending_claims.add("a")
        context._pending_timeouts["a"] = time.time() + 10
        assert 0.2 <= context.interval_to_next_pending_claim_check() <= clawdata.pool_wait.TURN_SECONDS


def test_the_local_event_log_overrides_the_connection_it_replaces():
    """cli/local_storage.py replaces SqliteEventLogStorage._connect and relies on what it does: one
    engine per shard, initialised once, every use under the storage's lock."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    assert list(inspect.signature(SqliteEventLogStorage._connect).parameters) == ["self", "shard"]
    source = inspect.getsource(SqliteEventLogStorage._connect)
    for used in ("with self._db_lock:", "self.conn_string_for_shard(shard)", "self._initdb(engine)",
                 "self._initialized_dbs.add(shard)", "conn.begin()"):
        assert used in source, f"SqliteEventLogStorage._connect no longer does `{used}`: revisit cli/local_storage.py"
    # Every write and read of the event log goes through _connect (run_connection, index_connection).
    assert "self._connect(" in inspect.getsource(SqliteEventLogStorage.run_connection)
    assert "self._connect(" in inspect.getsource(SqliteEventLogStorage.index_connection)
    assert "os.unlink" in inspect.getsource(SqliteEventLogStorage.wipe)  # why wipe closes the connections first
    # has_table is remembered once true: Dagster's opens a new engine on the index file for each ask, and
    # asks only to learn whether a migration added a table (never dropped).
    assert list(inspect.signature(SqliteEventLogStorage.has_table).parameters) == ["self", "table_name"]
    assert "create_engine(" in inspect.getsource(SqliteEventLogStorage.has_table)
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    wipe_index = inspect.getsource(SqlEventLogStorage._wipe_index)
    assert ".delete()" in wipe_index and "drop" not in wipe_index.lower()  # a wipe empties tables, never drops one


_WARM = """
import json, sys, tempfile
from pathlib import Path
import dbt_common.dataclass_schema as schema_module
from dbt.cli.main import dbtRunner
from clawdata.gold import dbt_schemas, project, runner

built = []
original = schema_module.build_json_schema
schema_module.build_json_schema = lambda cls, *a, **k: built.append(cls.__name__) or original(cls, *a, **k)
dbt_schemas.use(Path(sys.argv[1]))
proj = project.load()
result = dbtRunner(manifest=runner.load_manifest(proj)).invoke(
    ["--quiet", "--log-level-file", "none", "list", *runner.dbt_args(proj.project_dir, proj.profiles_dir, proj.target, Path(tempfile.mkdtemp()))])
assert result.success, result.exception
dbt_schemas.save(Path(sys.argv[1]))
kept = json.loads(Path(sys.argv[1]).read_text())["schemas"]
schema_module.build_json_schema = original
fresh = {key: json.loads(json.dumps(original(getattr(sys.modules[key.rsplit(".", 1)[0]], key.rsplit(".", 1)[1])).to_dict()))
         for key in kept}
print(json.dumps({"built": built, "same": all(fresh[k] == kept[k]["schema"] for k in kept), "kept": sorted(kept)}))
"""


def test_dbt_asks_for_its_config_schemas_where_the_kept_ones_answer(tmp_path):
    """gold/dbt_schemas.py answers dbt's `dbtClassMixin.json_schema` from a file: a first dbt command
    builds the schemas there (so dbt still asks there), a second builds none, and what the file
    gives back equals what mashumaro builds."""
    import json
    import os
    import subprocess
    import sys

    from clawdata.gold import project as gold_project

    # (parsed first, as at any load: a run reads that parse; without it, it parses, a dbt command of its own)
    gold_project.prepare_if_stale(gold_project.load())
    env = {**os.environ, "CLAWDATA_WAREHOUSE_PATH": str(tmp_path / "w.duckdb")}
    runs = [json.loads(subprocess.run([sys.executable, "-c", _WARM, str(tmp_path / "schemas.json")], env=env, cwd=ROOT,
                                      capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            for _ in range(2)]
    first, second = runs
    assert {"Project", "DuckDBCredentials"} <= set(first["built"]), first
    assert "dbt.contracts.project.Project" in first["kept"] and first["same"], first
    assert second["built"] == [] and second["same"] and second["kept"] == first["kept"], second


def test_status_reads_the_schema_revision_dagster_writes(tmp_path):
    """cli/records_sqlite.py reads Dagster's SQLite files for `status` without Dagster, at one schema
    revision it was checked against (it declines at any other). A Dagster whose storage has moved on
    writes another: check that reader against it (tests/status_readers.py), then move the revision."""
    import sqlite3

    from clawdata.cli.records_sqlite import SCHEMA_REVISION

    with dg.DagsterInstance.local_temp(str(tmp_path)):
        pass
    files = [tmp_path / "history" / "runs.db", tmp_path / "history" / "runs" / "index.db", tmp_path / "schedules" / "schedules.db"]
    assert all(f.exists() for f in files), [str(f) for f in files]
    revisions = {sqlite3.connect(f).execute("SELECT version_num FROM alembic_version").fetchone()[0] for f in files}
    assert revisions == {SCHEMA_REVISION}, revisions


def test_status_gives_the_next_tick_dagster_takes():
    """cli/records_sqlite.py gives a schedule's next tick with croniter, not Dagster's own iteration
    (which needs `import dagster`): the same tick for these crons and zones on an ordinary day, and
    no answer (Dagster's path answers) where a change of the zone's offset is near, where Dagster's
    rules differ from croniter's."""
    from datetime import datetime, timezone
    from unittest import mock

    from dagster._utils.schedules import cron_string_iterator

    import clawdata.cli.records_sqlite as files

    def at(moment):
        class Now(datetime):
            @classmethod
            def now(cls, tz=None):
                return moment.astimezone(tz)
        return mock.patch.object(files, "datetime", Now)

    ordinary = datetime(2026, 6, 10, 12, 34, 56, tzinfo=timezone.utc)
    for cron in ("0 6 * * *", "*/5 * * * *", "30 3 * * 1-5", "15 2 1 * *", "0 * * * *"):
        for zone in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"):
            with at(ordinary):
                ours = files._next_tick({"name": "s", "cronSchedule": cron, "executionTimezone": zone})[0]["timestamp"]
            theirs = next(cron_string_iterator(ordinary.timestamp(), cron, zone)).timestamp()
            assert ours == theirs, (cron, zone, ours, theirs)
    with at(datetime(2026, 10, 24, 12, 0, tzinfo=timezone.utc)), pytest.raises(files._Declined):
        files._next_tick({"name": "s", "cronSchedule": "30 2 * * *", "executionTimezone": "Europe/Berlin"})


def test_dagster_dbt_loads_without_dbt_core_which_runs_dbt_later(tmp_path):
    """gold/dbt_core.py: the definitions load with dagster-dbt on its path without dbt-core (1.3-1.5 s of
    every process that loads them), dbt-core comes in when dbt runs, and the root logger keeps its
    handlers. dagster-dbt's own copies of dbt's enums must be dbt-core's: an upgrade of either that
    parts them fails here, by name."""
    import json
    import subprocess
    import sys

    from tests.conftest import make_project

    code = """if True:
        import json, logging, sys
        before = list(logging.getLogger().handlers)
        import clawdata.definitions
        loaded = sorted(m for m in sys.modules if m == "dbt" or m.startswith("dbt."))
        from dagster_dbt import compat
        from clawdata.gold import dbt_core
        dbt_core.imported()
        from dbt.contracts.results import NodeStatus, TestStatus
        from dbt.node_types import REFABLE_NODE_TYPES, NodeType
        pairs = {"NodeStatus": (compat.NodeStatus, NodeStatus), "TestStatus": (compat.TestStatus, TestStatus),
                 "NodeType": (compat.NodeType, NodeType)}
        print(json.dumps({
            "loaded": loaded, "version": str(compat.DBT_PYTHON_VERSION), "selects": dbt_core.dagster_dbt_selects(),
            "handlers_kept": logging.getLogger().handlers == before,
            "enums": {k: [{m.name: m.value for m in ours}, {m.name: m.value for m in dbts}] for k, (ours, dbts) in pairs.items()},
            "refable": [sorted(map(str, compat.REFABLE_NODE_TYPES)), sorted(map(str, REFABLE_NODE_TYPES))]}))
    """
    shown = subprocess.run([sys.executable, "-c", code], env=make_project(tmp_path)["env"],
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-3000:]
    found = json.loads(shown.stdout.strip().splitlines()[-1])
    assert found["loaded"] == [] and found["version"] == "None" and not found["selects"], found
    assert found["handlers_kept"]
    assert found["refable"][0] == found["refable"][1]
    # What dbt-core has that dagster-dbt's copy has not: dbt 1.11's functions are not assets to dagster-dbt 0.29.
    missing = {name: sorted(set(dbts.values()) - set(ours.values())) for name, (ours, dbts) in found["enums"].items()}
    assert missing == {"NodeStatus": [], "TestStatus": [], "NodeType": ["function"]}, missing
    for name, (ours, dbts) in found["enums"].items():
        assert {k: v for k, v in ours.items() if k in dbts} == {k: v for k, v in dbts.items() if k in ours}, name
    # The members dagster-dbt's event conversion compares with (core/dbt_cli_event.py).
    used = {"NodeStatus": {"Success", "Skipped", "Warn", "Pass"}, "TestStatus": {"Pass", "Warn"}, "NodeType": {"Test", "Snapshot"}}
    for name, members in used.items():
        assert members <= set(found["enums"][name][0]) & set(found["enums"][name][1]), name
