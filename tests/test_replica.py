"""The read path: the replica is published whole, readers keep the version they opened, nothing is
left behind, a failed or half-finished run publishes nothing; `clawdata sql` reads it while a writer
holds the warehouse."""

import json
import os
import subprocess
import uuid

import duckdb
import dagster as dg
import pytest

from clawdata.cli import sql
from clawdata.defs.serving.replica import half_finished
from clawdata.warehouse import ledger, replica
from tests.conftest import CLAWDATA, in_process_project, run_cli
from tests.oracle import GOLD_MODELS
from tests.test_warehouse_readers import hold_lock

# The cross-table invariant of the gold models (dbt/tests/assert_revenue_reconciles.sql): it breaks
# on any mixture of versions of silver and gold.
INVARIANT = """
SELECT (SELECT sum(revenue) FROM fct_daily_revenue)
     = (SELECT sum(lifetime_value) FROM dim_customers)
     + (SELECT coalesce(sum(amount), 0) FROM slv_orders WHERE status NOT IN ('cancelled', 'returned')
          AND customer_id NOT IN (SELECT customer_id FROM slv_customers))
"""


def make_warehouse(path, rows):
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"CREATE OR REPLACE TABLE t AS SELECT range AS id FROM range({rows})")
        conn.execute("CREATE OR REPLACE VIEW v AS SELECT count(*) AS n FROM t")
        conn.execute("CREATE SCHEMA IF NOT EXISTS bronze")
        conn.execute("CREATE OR REPLACE TABLE bronze.raw AS SELECT 1 AS x")  # clawdata's (its ledger says so): not served
        ledger.ensure(conn)
        ledger.record_layer(conn, "raw", "v1", ledger.next_batch(conn), full=True)
        conn.execute("CREATE OR REPLACE TABLE bronze.audit_model AS SELECT 2 AS y")  # a dbt model in a schema `bronze`


def test_publish_replaces_whole_and_open_readers_keep_their_version(tmp_path):
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    make_warehouse(warehouse, 10)
    first = replica.publish(warehouse, path, "run-1")
    assert (first.generation, first.tables) == (1, {"bronze.audit_model": 1, "main.t": 10, "main.v": 1})
    old = replica.connect(path)
    make_warehouse(warehouse, 20)
    second = replica.publish(warehouse, path, "run-2")
    new = replica.connect(path)
    # The open reader still reads generation 1, whole; a new one reads generation 2.
    assert old.execute("SELECT count(*), (SELECT n FROM v) FROM t").fetchall() == [(10, 10)]
    assert replica.snapshot_of(old).generation == 1
    assert new.execute("SELECT count(*), (SELECT n FROM v) FROM t").fetchall() == [(20, 20)]
    assert (replica.snapshot_of(new).run_id, second.generation) == ("run-2", 2)
    # Only what is served: not bronze's own tables, nor the ledger; a dbt model in schema `bronze` is.
    assert new.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> "
                       "'clawdata_replica' ORDER BY 1, 2").fetchall() == [("bronze", "audit_model"), ("main", "t"), ("main", "v")]
    old.close(), new.close()
    assert sorted(os.listdir(path.parent)) == [".w.duckdb.generation", "w.duckdb"]  # the generation floor


def test_failed_publish_keeps_the_replica_and_leftovers_are_cleaned(tmp_path):
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    make_warehouse(warehouse, 5)
    replica.publish(warehouse, path, "run-1")
    leftover = path.with_name(f".{path.name}.7.dead.tmp")  # a publish that was killed
    leftover.write_bytes(b"partial")
    with pytest.raises((duckdb.Error, OSError)):
        replica.publish(tmp_path / "missing" / "w.duckdb", path, "run-2")
    assert sorted(os.listdir(path.parent)) == [".w.duckdb.generation", "w.duckdb"]  # the leftover and the failed attempt are gone
    assert replica.read_snapshot(path).generation == 1


def test_a_warehouse_left_with_a_wal_is_copied_table_by_table(tmp_path):
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    make_warehouse(warehouse, 6)
    script = ("import duckdb, os, sys; c = duckdb.connect(sys.argv[1]); c.execute('SET checkpoint_threshold = \\'1TB\\''); "
              "c.execute('INSERT INTO t SELECT 100'); os._exit(0)")  # a writer killed before its checkpoint
    subprocess.run([os.sys.executable, "-c", script, str(warehouse)], check=True)
    assert (tmp_path / "w.duckdb.wal").exists()
    assert replica.publish(warehouse, path, "run-1").tables == {"bronze.audit_model": 1, "main.t": 7, "main.v": 1}


def test_dbt_scratch_relations_left_by_a_stopped_build_are_not_served(tmp_path):
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    make_warehouse(warehouse, 3)
    with duckdb.connect(str(warehouse)) as conn:  # what dbt-duckdb leaves when a model is stopped half-way
        conn.execute("CREATE TABLE t__dbt_tmp AS SELECT 1 AS id")
        conn.execute("CREATE VIEW v__dbt_backup AS SELECT 1 AS n")
    assert replica.publish(warehouse, path, "run-1").tables == {"bronze.audit_model": 1, "main.t": 3, "main.v": 1}
    with replica.connect(path) as conn:
        assert {n for (n,) in conn.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main'").fetchall()} == {"t", "v"}


def test_a_view_that_binds_to_nothing_is_named_not_a_failed_publish(tmp_path):
    """A view left by a deleted dbt model over a column renamed since, or an external model's view
    over a file that is gone: the publish serves everything else and names it (it failed the
    publish, and so every run, until someone dropped the view by hand). Both copy paths."""
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    make_warehouse(warehouse, 4)
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("CREATE TABLE bonus AS SELECT 1 AS bonus_pct")
        conn.execute("CREATE VIEW orphan AS SELECT bonus_pct FROM bonus")
        conn.execute(f"COPY (SELECT 1 AS x) TO '{tmp_path / 'gone.parquet'}'")
        conn.execute(f"CREATE VIEW external AS SELECT * FROM read_parquet('{tmp_path / 'gone.parquet'}')")
        conn.execute("ALTER TABLE bonus RENAME COLUMN bonus_pct TO bonus_rate")
    (tmp_path / "gone.parquet").unlink()
    published = replica.publish(warehouse, path, "run-1")
    assert published.unreadable == ("main.external", "main.orphan"), published
    assert published.tables == {"bronze.audit_model": 1, "main.t": 4, "main.v": 1, "main.bonus": 1}
    script = ("import duckdb, os, sys; c = duckdb.connect(sys.argv[1]); c.execute('SET checkpoint_threshold = \\'1TB\\''); "
              "c.execute('INSERT INTO t SELECT 100'); os._exit(0)")  # a WAL left: the table-by-table path
    subprocess.run([os.sys.executable, "-c", script, str(warehouse)], check=True)
    again = replica.publish(warehouse, path, "run-2")
    assert again.unreadable == ("main.external", "main.orphan") and again.tables["main.t"] == 5, again


@pytest.mark.parametrize("reads", ["read_parquet('{file}')", "'{file}'", "'{dir}/*.parquet'", "glob('{dir}/*') g, '{file}'"])
def test_a_view_over_a_file_is_served_as_a_table_of_its_rows(tmp_path, reads):
    """dbt-duckdb's `external` model is a view over the file it writes: served as a view, a reader
    holding a version saw the next run's file (or a failed run's), and a reader that mounts the
    replica alone could not read it. It is a table in the replica, however its SQL names the file
    (the pattern dbt models share: gold/manifest.py's volatile nodes)."""
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    (tmp_path / "exports").mkdir()
    parquet = tmp_path / "exports" / "ext.parquet"
    make_warehouse(warehouse, 2)
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(f"COPY (SELECT 1 AS x) TO '{parquet}'")
        conn.execute(f"CREATE VIEW ext AS SELECT x FROM {reads.format(file=parquet, dir=parquet.parent)}")
    replica.publish(warehouse, path, "run-1")
    with duckdb.connect() as conn:
        conn.execute(f"COPY (SELECT 2 AS x UNION ALL SELECT 3) TO '{parquet}'")  # the next run's file
    with replica.connect(path) as conn:
        assert conn.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'ext'").fetchone() == ("BASE TABLE",)
        assert conn.execute("SELECT sum(x) FROM ext").fetchone() == (1,)


def test_a_bare_name_reads_the_models_table_not_one_it_left_behind(tmp_path):
    """A model moved to another schema (`+schema:`) leaves its old table where dbt built it: a bare name
    found the old copy first (schemas are searched in order) and `clawdata sql` served stale rows.
    It reads the table a served asset owns; the old one stays readable by its schema, `main` included
    (a temporary view had answered `main.mrr` with the moved model), and is listed once."""
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("CREATE SCHEMA analytics; CREATE SCHEMA other_schema")
        conn.execute("CREATE TABLE analytics.data_text AS SELECT 'old' AS v")  # where the model was
        conn.execute("CREATE TABLE other_schema.data_text AS SELECT 'new' AS v")  # where it is built now
        conn.execute("CREATE TABLE analytics.kept AS SELECT 1 AS v")
        conn.execute("CREATE TABLE main.mrr AS SELECT 'old' AS v; CREATE TABLE other_schema.mrr AS SELECT 'new' AS v")
    replica.publish(warehouse, path, "run-1", owned=["other_schema.data_text", "analytics.kept", "other_schema.mrr"])
    with replica.connect(path) as conn:
        assert conn.execute("SELECT v FROM data_text").fetchone() == ("new",)
        assert conn.execute("SELECT v FROM analytics.data_text").fetchone() == ("old",)
        assert conn.execute("SELECT v FROM kept").fetchone() == (1,)
        assert conn.execute("SELECT (SELECT v FROM mrr), (SELECT v FROM main.mrr), (SELECT v FROM other_schema.mrr)").fetchone() \
            == ("new", "old", "new")
        listed = conn.execute(sql.DOT[".tables"]).fetchall()
        assert listed.count(("main", "mrr", "BASE TABLE")) == 1 and len(listed) == 5, listed
    assert replica.read_snapshot(path).owned == ("analytics.kept", "other_schema.data_text", "other_schema.mrr")


def test_replica_is_readable_while_a_writer_holds_the_warehouse(tmp_path):
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    make_warehouse(warehouse, 3)
    replica.publish(warehouse, path, "run-1")
    writer = hold_lock(warehouse, 60)
    try:
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(warehouse), read_only=True)
        result = run_cli(dict(os.environ, CLAWDATA_REPLICA_PATH=str(path)), "sql", "--format", "json", "SELECT count(*) AS n FROM t", timeout=60)
    finally:
        writer.kill()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"n": 3}]
    assert "replica generation 1" in result.stderr


# -- the asset, in real runs (bronze, silver, dbt gold) on one instance ------------------------------

@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with in_process_project(tmp_path_factory.mktemp("replica")) as (paths, defs):
        instance = dg.DagsterInstance.ephemeral()
        job = defs.resolve_implicit_global_asset_job_def()

        def run(*keys):
            selection = [dg.AssetKey(k) for k in keys] if keys else None
            return job.execute_in_process(instance=instance, asset_selection=selection, raise_on_error=False)

        paths["run"], paths["instance"] = run, instance
        paths["replica"] = paths["warehouse"].parent / "replica" / paths["warehouse"].name
        assert run().success
        yield paths


def replica_state(path):
    with replica.connect(path) as conn:
        return replica.snapshot_of(conn).generation, conn.execute(INVARIANT).fetchone()[0], \
            conn.execute("SELECT count(*) FROM slv_customers").fetchone()[0]


def replica_step(result):
    return [e for e in result.all_events if e.step_key == "warehouse_replica"]


def test_a_run_publishes_silver_and_gold_consistently(pipeline):
    generation, invariant, customers = replica_state(pipeline["replica"])
    assert (generation, invariant) == (1, True) and customers > 0
    with replica.connect(pipeline["replica"]) as conn:
        tables = {f"{s}.{t}" for s, t in conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                                         "WHERE table_schema <> 'clawdata_replica'").fetchall()}
    assert tables == {"silver.slv_customers", "silver.slv_orders", "silver.slv_products",
                      *(f"main.{model}" for model in GOLD_MODELS)}
    assert set(replica.read_snapshot(pipeline["replica"]).owned) == tables  # what a bare name prefers


HEADER = "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at"


def test_a_failed_run_publishes_nothing(pipeline):
    before = replica_state(pipeline["replica"])
    bad = pipeline["inbox"] / "customers_bad.csv"
    bad.write_text(f"{HEADER}\n1,Ann,Lee,a@x.org,,Oslo,NO,2025-13-45,2026-11-01 10:00:00\n")
    try:
        result = pipeline["run"]()
    finally:
        bad.unlink()
    assert not result.success
    assert not [e for e in replica_step(result) if e.event_type_value == "STEP_SUCCESS"]
    assert replica_state(pipeline["replica"]) == before


def test_a_half_finished_warehouse_is_not_published_until_gold_catches_up(pipeline):
    generation, _, customers = replica_state(pipeline["replica"])
    (pipeline["inbox"] / "customers_new.csv").write_text(
        f"{HEADER}\n990001,Ann,Lee,a@x.org,,Oslo,NO,2025-01-02,2026-11-01 10:00:00\n")
    # New silver, gold not rebuilt: publishing now would mix versions (the invariant would break).
    half = pipeline["run"]("raw_customers", "slv_customers", "warehouse_replica")
    assert half.success
    assert not half.asset_materializations_for_node("warehouse_replica")
    warnings = [r.user_message for r in pipeline["instance"].all_logs(half.run_id) if "not published" in r.user_message]
    assert warnings and "dim_customers is older than slv_customers" in warnings[0]
    # Said on the asset too, where the CLI's "not built" line and `status` read it: a run that
    # published nothing looked like one that did, and readers' older generation went unsaid.
    observed = [e.event_specific_data.asset_observation.metadata for e in half.all_events
                if e.event_type_value == "ASSET_OBSERVATION" and e.asset_key == dg.AssetKey("warehouse_replica")]
    assert observed and observed[0]["clawdata/not_built"].value.startswith("not published until a run builds them again: dim_customers is older than") \
        and f"readers get generation {generation} of " in observed[0]["clawdata/not_built"].value, observed
    assert replica_state(pipeline["replica"]) == (generation, True, customers)
    # The run that completes the work publishes, consistently.
    assert pipeline["run"]().success
    assert replica_state(pipeline["replica"]) == (generation + 1, True, customers + 1)
    # Nothing changed since: the published version is kept, not copied again.
    again = pipeline["run"]()
    assert again.success and replica_state(pipeline["replica"])[0] == generation + 1
    assert again.asset_materializations_for_node("warehouse_replica")[0].metadata["reused"].value is True


def test_sql_prints_a_table_csv_and_clear_errors(tmp_path):
    warehouse, path = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb"
    make_warehouse(warehouse, 3)
    replica.publish(warehouse, path, "run-1")
    env = dict(os.environ, CLAWDATA_REPLICA_PATH=str(path), COLUMNS="120")
    table = run_cli(env, "sql", "SELECT id, id * 2 AS double FROM t ORDER BY id", timeout=60)
    assert table.returncode == 0 and "│  id   │ double │" in table.stdout and "│     2 │      4 │" in table.stdout, table.stdout
    csv = run_cli(env, "sql", "--format", "csv", "SELECT id, 'a,b' AS s FROM t ORDER BY id", timeout=60)
    assert csv.stdout == 'id,s\n0,"a,b"\n1,"a,b"\n2,"a,b"\n'
    # Times and bytes as DuckDB writes them (Python's 9999-12-31 for 'infinity', its repr of bytes)
    values = "SELECT 'infinity'::TIMESTAMP AS ts, '\\xDE\\xAD'::BLOB AS b, 2 AS n"
    as_csv = run_cli(env, "sql", "--format", "csv", values, timeout=60)
    assert as_csv.stdout == "ts,b,n\ninfinity,\\xDE\\xAD,2\n", as_csv.stdout + as_csv.stderr
    as_json = json.loads(run_cli(env, "sql", "--format", "json", values, timeout=60).stdout)
    assert as_json == [{"ts": "infinity", "b": "\\xDE\\xAD", "n": 2}], as_json
    bad = run_cli(env, "sql", "SELEC 1", timeout=60)
    assert bad.returncode == 1 and "Parser Error" in bad.stderr and "Traceback" not in bad.stderr
    # A table the last publish did not serve (built since, or by a run that did not publish): which
    # generation is served, and how one is published.
    unserved = " ".join(run_cli(env, "sql", "SELECT * FROM built_since", timeout=60).stderr.split())
    assert "Table with name built_since does not exist" in unserved and "replica generation 1, published " in unserved \
        and "served after the next publish" in unserved and "materialize warehouse_replica" in unserved, unserved
    missing = run_cli(dict(env, CLAWDATA_REPLICA_PATH=str(tmp_path / "none.duckdb")), "sql", "SELECT 1", timeout=60)
    assert missing.returncode == 1 and "no replica at" in missing.stderr and "materialize --all" in missing.stderr
    # with a deployment named, the replica is the stack's: said where to read it
    remote = run_cli(dict(env, CLAWDATA_REPLICA_PATH=str(tmp_path / "none.duckdb"), CLAWDATA_DAGSTER_URL="http://127.0.0.1:9"),
                     "sql", "SELECT 1", timeout=60)
    assert remote.returncode == 1 and "make sql" in remote.stderr, remote.stderr
    dotted = run_cli(env, "sql", ".tables", timeout=60)  # the shell's dot commands, as a query too
    assert dotted.returncode == 0 and "BASE TABLE" in dotted.stdout, dotted.stdout + dotted.stderr
    shell = subprocess.run([str(CLAWDATA), "sql"], input=".tables\nSELECT count(*) AS n\nFROM t;\n.quit\n", env=env,
                           capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0 and "BASE TABLE" in shell.stdout and "│     3 │" in shell.stdout, shell.stdout


def test_backup_copies_the_published_version_without_waiting_and_restores_keeping_newer_deliveries(tmp_path):
    """The published replica, the inbox and the generation floor, owner-readable only, taken while a
    writer holds the warehouse; restored, an inbox file newer than the backup is kept aside, and the
    next publish gets a generation never used before."""
    warehouse, path, inbox = tmp_path / "w.duckdb", tmp_path / "replica" / "w.duckdb", tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "customers_1.csv").write_text("id\n1\n")
    env = {**os.environ, "CLAWDATA_WAREHOUSE_PATH": str(warehouse), "CLAWDATA_REPLICA_PATH": str(path),
           "CLAWDATA_INBOX_DIR": str(inbox)}
    make_warehouse(warehouse, 4)
    replica.publish(warehouse, path, "run-1")
    replica.publish(warehouse, path, "run-2")
    target = tmp_path / "backups" / "b1"
    writer = hold_lock(warehouse, 60)  # a run writing the warehouse meanwhile
    try:
        result = subprocess.run([os.sys.executable, "-m", "clawdata.warehouse.backup", "backup", str(target)],
                                capture_output=True, text=True, timeout=60, env=env)
    finally:
        writer.kill()
    assert result.returncode == 0, result.stderr
    assert "replica generation 2" in result.stdout and "by run run-2" in result.stdout and "main.t 4 rows" in result.stdout
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in target.iterdir()} == {
        n: "0o600" for n in ("warehouse.duckdb", "inbox.tar.gz", "generation.txt", "snapshot.txt")}

    replica.publish(warehouse, path, "run-3")  # generation 3, after the backup
    (inbox / "customers_2.csv").write_text("id\n2\n")  # delivered after the backup
    restored = subprocess.run([os.sys.executable, "-m", "clawdata.warehouse.backup", "restore", str(target)],
                              capture_output=True, text=True, timeout=60, env=env)
    assert restored.returncode == 0, restored.stderr
    assert "kept aside (not in the backup): customers_2.csv" in restored.stdout
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["customers_1.csv"]
    assert [p.name for p in next(inbox.glob(".kept-aside-*")).iterdir()] == ["customers_2.csv"]
    assert replica.read_snapshot(path).generation == 2  # the backup's own version, as it was
    assert replica.publish(warehouse, path, "run-4").generation == 4  # not 3 again: 3 named another content




def test_an_input_rebuilt_from_the_same_code_and_inputs_does_not_hold_the_replica_back():
    """A view dbt recomputes every run (it reads `current_timestamp`) gets a new data version each
    build. A model below it that failed keeps a table as true to it as before: what did build is
    published. Not so once the view read other data (a root's new version): then it is half-way."""
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._core.loader import LoadingContextForTest

    state = {"root": "r1", "fail": False}

    @dg.asset(code_version="1")
    def root():
        return dg.Output(None, data_version=dg.DataVersion(state["root"]))

    @dg.asset(deps=[root], code_version="1")
    def view():
        return dg.Output(None, data_version=dg.DataVersion(uuid.uuid4().hex))

    @dg.asset(deps=[view], code_version="1")
    def model():
        if state["fail"]:
            raise RuntimeError("its contract failed")

    assets = [root, view, model]
    graph = dg.Definitions(assets=assets).resolve_asset_graph()
    with dg.instance_for_test() as instance:
        def behind() -> list[str]:
            resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
            return half_finished(instance, graph, resolver, [view.key, model.key])

        assert dg.materialize(assets, instance=instance).success and behind() == []
        state["fail"] = True
        assert not dg.materialize(assets, instance=instance, raise_on_error=False).success
        assert behind() == []  # the view alone was rebuilt alike: the model's last table is published
        state["root"] = "r2"
        assert not dg.materialize(assets, instance=instance, raise_on_error=False).success
        assert behind() == ["model is older than view"]  # the view read new data: half-way
        state["fail"] = False
        assert dg.materialize(assets, instance=instance).success and behind() == []


def test_the_replica_is_published_after_a_run_that_planned_it_and_failed_before_it():
    """Dagster's eager() ignores a parent updated by a run that also planned the replica: a run whose
    gold step failed built silver and skipped the replica, and the read path stayed stale until the
    next edit (an outsider's try on the stack). Stand-ins for silver, gold and the replica."""
    from clawdata.defs.serving.replica import PUBLISH_CONDITION

    state = {"gold_fails": False}

    @dg.asset
    def silver():
        return 1

    @dg.asset(deps=[silver])
    def gold():
        if state["gold_fails"]:
            raise RuntimeError("a model's new code fails")

    @dg.asset(deps=[silver, gold], automation_condition=PUBLISH_CONDITION)
    def published():
        return 1

    assets = [silver, gold, published]
    job = dg.Definitions(assets=assets).get_implicit_global_asset_job_def()
    planned = [dg.AssetKey(k) for k in ("silver", "gold", "published")]  # the run's selection, as a sensor's has
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, asset_selection=planned).success
        first = dg.evaluate_automation_conditions(defs=assets, instance=instance)
        # A run that built everything, the replica last: nothing more to publish
        assert job.execute_in_process(instance=instance, asset_selection=planned).success
        after_success = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=first.cursor)
        assert after_success.total_requested == 0
        state["gold_fails"] = True
        assert not job.execute_in_process(instance=instance, asset_selection=planned, raise_on_error=False).success
        after_failure = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=after_success.cursor)
        assert after_failure.total_requested == 1  # silver's new rows, published beside gold's last good (eager: 0)
        published_now = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=after_failure.cursor)
        assert published_now.total_requested == 0  # asked once (the request handles it)
