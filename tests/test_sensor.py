"""The inbox sensor, ticked from the CLI as a user would: it fills a fresh warehouse, stays quiet
while nothing changes, ingests a new delivery with everything downstream of it, takes its rows out
again when the file is taken out of the inbox, and in again when it is put back; a file no source
names is said once."""

import shutil
from pathlib import Path

import duckdb

from clawdata.warehouse.readers import read_only

from tests.conftest import run_cli
from tests.oracle import expected
from tests.status_readers import same_status

HEADER = "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at"


def tick(project):
    result = run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_sensor_tick_ingests_new_files(project):
    first = tick(project)  # nothing built yet: every source is requested, gold included
    for asset in ("raw_customers", "slv_orders", "dim_customers", "fct_category_revenue"):
        assert asset in first
    assert first.count("SUCCESS") == 1 and "cursor of inbox_sensor updated" in first

    assert "skipped: no new or changed files" in tick(project)

    (project["inbox"] / "customers_2026-11-24.csv").write_text(
        f"{HEADER}\n"
        "1,Changed,Name,  NEW.Address@Example.COM ,,Berlin,de,2024-01-01,2099-01-01 00:00:00\n"
        "900001,New,Customer,new@example.com,,Oslo,NO,2026-11-24,2026-11-24 08:00:00\n"
    )
    third = tick(project)
    assert "requested raw_customers, slv_customers, dim_customers" in third, third
    assert "(customers: customers_2026-11-24.csv)" in third and "SUCCESS" in third

    oracle = expected(project["sample"], project["inbox"])
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM slv_customers").fetchone()[0] == oracle["slv_customers"]
        assert conn.execute("SELECT email, city FROM slv_customers WHERE customer_id = 1").fetchone() == (
            "new.address@example.com", "Berlin")
        assert conn.execute("SELECT count(*) FROM dim_customers").fetchone()[0] == oracle["slv_customers"]

    assert "skipped: no new or changed files" in tick(project)

    # The delivery taken back out of the inbox: its rows leave with it, on the next tick.
    delivery, aside = project["inbox"] / "customers_2026-11-24.csv", project["inbox"].parent / "aside.csv"
    delivery.rename(aside)
    fifth = tick(project)
    assert "(customers: customers_2026-11-24.csv removed)" in fifth and "SUCCESS" in fifth, fifth
    oracle = expected(project["sample"], project["inbox"])
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM slv_customers").fetchone()[0] == oracle["slv_customers"]
        assert conn.execute("SELECT count(*) FROM slv_customers WHERE customer_id = 900001").fetchone()[0] == 0
    assert "skipped: no new or changed files" in tick(project)

    # And put back as it was (the same size and time: the state the first run of it saw): in again.
    aside.rename(delivery)
    seventh = tick(project)
    assert "(customers: customers_2026-11-24.csv)" in seventh and "SUCCESS" in seventh, seventh
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM slv_customers WHERE customer_id = 900001").fetchone()[0] == 1

    # A delivery a `materialize` took in between two ticks: the next tick has nothing new (it asked for
    # the source again, saying the file new).
    (project["inbox"] / "customers_2026-11-27.csv").write_text(f"{HEADER}\n900003,Cli,Loaded,c@example.com,,Oslo,NO,2026-11-27,2026-11-27 08:00:00\n")
    assert run_cli(project["env"], "dagster", "materialize", "--all").returncode == 0
    assert "skipped: no new or changed files" in tick(project)
    # Taken out again, this time before any tick saw it (a `materialize` took it in, then the file
    # went): its rows leave too, and it is said once.
    late = project["inbox"] / "customers_2026-11-28.csv"
    late.write_text(f"{HEADER}\n900004,Cli,Only,d@example.com,,Oslo,NO,2026-11-28,2026-11-28 08:00:00\n")
    assert run_cli(project["env"], "dagster", "materialize", "raw_customers", "slv_customers").returncode == 0
    late.unlink()
    gone = tick(project)
    assert "(customers: customers_2026-11-28.csv removed)" in gone and "SUCCESS" in gone, gone
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM slv_customers WHERE customer_id = 900004").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM dim_customers WHERE customer_id = 900004").fetchone()[0] == 0
    assert "skipped: no new or changed files" in tick(project)

    # A delivery no declared source names (a misspelt name) is left alone, and said so once.
    (project["inbox"] / "cusotmers_2026-11-25.csv").write_text(f"{HEADER}\n")
    said = tick(project)
    assert "skipped: no new or changed files; named by no declared source, left alone: cusotmers_2026-11-25.csv" in said, said
    assert "named by no declared source" not in tick(project)
    # So is a folder no source's patterns name (a day's deliveries put in a folder), once, as a folder.
    (project["inbox"] / "2026-11-26").mkdir()
    (project["inbox"] / "2026-11-26" / "customers_2026-11-26.csv").write_text(f"{HEADER}\n")
    said = " ".join(tick(project).split())
    assert ("named by no declared source, left alone: 2026-11-26/ (a folder is read where a source's `files: inbox:` "
            "patterns name it)") in said and "customers_2026-11-26" not in said, said
    assert "named by no declared source" not in tick(project)


def test_the_first_tick_ingests_a_delivery_made_since_the_last_run_and_nothing_else(project):
    """A warehouse filled by `materialize --all`, then the sensor's first tick (a `clawdata dagster dev`
    started later): it records what is there and requests nothing, unless a file was put in place
    since its source's last materialization: that source is ingested. It was recorded and never
    loaded."""
    done = run_cli(project["env"], "dagster", "materialize", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    late = project["inbox"] / "customers_2026-12-02.csv"
    late.write_text(f"{HEADER}\n900002,Late,Delivery,late@example.com,,Oslo,NO,2026-12-02,2026-12-02 08:00:00\n")
    (project["inbox"] / "custmers_2026-12-02.csv").write_text(f"{HEADER}\n")  # misspelt: said with the run
    first = " ".join(tick(project).split())  # as one line, whatever the console's width
    # (what was left alone first: a long why, cut at the tag's length, cut it off)
    assert ("(named by no declared source, left alone: custmers_2026-12-02.csv; "
            "customers: delivered before the sensor's first tick: customers_2026-12-02.csv)") in first, first
    assert "raw_orders" not in first and "SUCCESS" in first, first
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM slv_customers WHERE customer_id = 900002").fetchone()[0] == 1
    assert "skipped: no new or changed files" in tick(project)


def test_a_seed_and_what_reads_only_it_are_built_by_the_sensor_and_so_is_an_edit(project, tmp_path):
    """An outsider's dbt project in the stack: its seed and the models reading only it are downstream
    of no delivery, and the sensor's runs never built them (the daily schedule would have). The
    sensor asks for what was never built, and for what was built by other code (an edited model),
    once per code: a model that fails is not asked for at every tick."""
    proj = tmp_path / "proj"
    shutil.copytree(Path(__file__).parent / "dbt_other", proj)
    (proj / "transform" / "marts" / "country_count.sql").write_text("select count(*) as countries from {{ ref('country_names') }}\n")
    staging = proj / "transform" / "staging" / "staging.yml"  # its test that fails on purpose, passing
    staging.write_text(staging.read_text().replace('"delivered"]', '"delivered", "cancelled", "returned"]'))
    env = {**project["env"], "CLAWDATA_DBT_PROJECT_DIR": str(proj)}
    first = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "country_names" in first and "country_count" in first and "SUCCESS" in first, first
    # launched as the daemon launches it: the sensor's job, not Dagster's implicit asset job
    runs = run_cli(env, "dagster", "status").stdout
    assert "materialize_all" in runs and "__ASSET_JOB" not in runs, runs
    assert "skipped: no new or changed files" in run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout
    (proj / "transform" / "marts" / "country_count.sql").write_text("select count(*) + 1 as countries from {{ ref('country_names') }}\n")
    for reads in ("graphql", "records"):  # the definitions loaded anew, then their snapshot
        shown = run_cli(env, "dagster", "status").stdout
        row = next(line for line in shown.splitlines() if "│ country_count" in line)
        assert "code changed since built" in row, (reads, shown)
    edited = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "(code changed since built: country_count" in edited and "SUCCESS: 2 rebuilt" in edited, edited  # with the replica
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT countries FROM main.country_count").fetchone() == (5,)  # 4 countries, + 1
    (proj / "transform" / "marts" / "country_count.sql").write_text("select no_such_column from {{ ref('country_names') }}\n")
    broken = run_cli(env, "dagster", "sensor", "tick", "inbox_sensor")
    assert broken.returncode != 0 and "no_such_column" in broken.stdout + broken.stderr, broken.stdout + broken.stderr
    again = run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout
    again = " ".join(again.split())
    assert "skipped: no new or changed files; failed at this code and on this data, not asked for again: country_count " \
           "(run " in again and "local instance" not in again, again


def test_what_a_subset_run_left_behind_is_built_by_the_next_tick(project):
    """A run of part of the graph (`materialize raw_x slv_x --full-refresh`, the README's way to drop rows
    deleted in a database) changed silver and left gold and the read path behind it for good: no
    delivery, no code change, so no sensor asked for them, and the replica would not publish a
    half-way state. The next tick asks for what reads changed data, once."""
    done = run_cli(project["env"], "dagster", "materialize", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    (project["inbox"] / "customers_2026-12-03.csv").write_text(
        f"{HEADER}\n900003,Sub,Set,subset@example.com,,Oslo,NO,2026-12-03,2026-12-03 08:00:00\n")
    subset = run_cli(project["env"], "dagster", "materialize", "raw_customers", "slv_customers")
    assert subset.returncode == 0, subset.stdout + subset.stderr
    assert "the read path (`clawdata sql`) serves the last publish: name warehouse_replica" in subset.stdout, subset.stdout
    first = " ".join(tick(project).split())
    assert "what it reads changed since built: dim_customers" in first and "SUCCESS" in first, first
    assert "raw_customers" not in first.split("requested")[1].split("(")[0], first  # silver is not built again
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM dim_customers WHERE customer_id = 900003").fetchone()[0] == 1
    assert "skipped: no new or changed files" in tick(project)
    read = run_cli(project["env"], "sql", "--format", "csv", "SELECT count(*) FROM dim_customers WHERE customer_id = 900003")
    assert read.stdout.strip().splitlines()[-1] == "1", read.stdout + read.stderr  # the read path caught up


def test_a_file_source_declared_before_its_first_file_is_never_built_and_so_asked_for(tmp_path, monkeypatch):
    """Its tables are built empty (and what reads them builds): the sensor asks for them as for any
    asset never built. It used to leave them out, with every model reading them, until a first file
    came: in the stack they stayed unbuilt, and a restore's rebuild skipped them."""
    import dagster as dg

    from clawdata.defs.automation.inbox_sensor import NEVER_BUILT, _out_of_date
    from clawdata.defs.ingest.assets import build_ingest_assets
    from clawdata.sources.spec import FileSourceSpec

    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(tmp_path))  # no file in it
    spec = FileSourceSpec.model_validate({"name": "refunds", "key": ["refund_id"], "columns": {"refund_id": "BIGINT"}})

    @dg.asset(deps=[spec.silver_table])
    def refunds_by_day() -> None: ...

    from dagster_duckdb import DuckDBResource

    graph = dg.Definitions(assets=[*build_ingest_assets(spec), refunds_by_day],
                           resources={"duckdb": DuckDBResource(database=str(tmp_path / "w.duckdb"))}).resolve_asset_graph()
    assert _out_of_date(graph, {}) == {dg.AssetKey(k): NEVER_BUILT for k in ("raw_refunds", "slv_refunds", "refunds_by_day")}


def test_what_a_run_not_finished_yet_builds_is_not_asked_for_again(tmp_path):
    """After a restore, on a fresh stack, the sensor asked for what a queued or going run was about to
    build: a second run that reused everything. A run of a subset counts for its assets; one created
    over six hours ago and still marked going is taken for dead."""
    import dagster as dg

    from clawdata.defs.automation.inbox_sensor import _in_flight

    @dg.asset
    def a() -> None: ...

    @dg.asset(deps=[a])
    def b() -> None: ...

    defs = dg.Definitions(assets=[a, b])
    graph, job = defs.resolve_asset_graph(), defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        assert _in_flight(instance, graph) == set()
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.SUCCESS)  # finished: nothing coming
        assert _in_flight(instance, graph) == set()
        instance.create_run_for_job(job.get_subset(asset_selection={dg.AssetKey("b")}), asset_selection=frozenset({dg.AssetKey("b")}),
                                    status=dg.DagsterRunStatus.NOT_STARTED)
        assert _in_flight(instance, graph) == {dg.AssetKey("b")}
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)  # a run of everything
        assert _in_flight(instance, graph) == {dg.AssetKey("a"), dg.AssetKey("b")}


def test_a_failed_run_about_to_be_retried_counts_as_coming(tmp_path):
    """`make down` mid-run, `make up`: run monitoring failed the run, and the sensor's tick asked for
    everything again 5 s before the daemon made the retry: the work ran twice."""
    import dagster as dg

    from clawdata.defs.automation.inbox_sensor import _in_flight

    @dg.asset
    def a() -> None: ...

    defs = dg.Definitions(assets=[a])
    graph, job = defs.resolve_asset_graph(), defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        failed = instance.create_run_for_job(job, status=dg.DagsterRunStatus.FAILURE, tags={"dagster/will_retry": "true"})
        assert _in_flight(instance, graph) == {dg.AssetKey("a")}  # its retry is coming
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.FAILURE, tags={"dagster/parent_run_id": failed.run_id})
        assert _in_flight(instance, graph) == set()  # the retry ran (and failed): nothing coming


def test_an_automation_condition_sensor_says_who_evaluates_it_and_what_to_run(project):
    """replica_sensor is Dagster's automation condition sensor: Dagster refuses to dry-run it, and the
    tick said only "Error occurred during the execution of evaluation_fn"."""
    result = run_cli(project["env"], "dagster", "sensor", "tick", "replica_sensor")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "automation condition sensor" in result.stderr and "materialize warehouse_replica" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_delivery_that_mends_a_failing_test_on_another_source_runs_that_test_again(project):
    """An order of a product silver lacks fails the relationships test on slv_orders. The products
    file that mends it was taken in, the models built, but the test is slv_orders's: it was not run,
    and status said it failed until a run of everything. The sensor's run now runs the checks that
    read what it builds, as `dbt build` would."""
    tick(project)
    header = "order_id,customer_id,product_id,order_date,quantity,unit_price,status,updated_at"
    (project["inbox"] / "orders_orphan.csv").write_text(f"{header}\n9000001,1,99999,2025-10-06,3,19.00,delivered,2025-10-07 21:06:24\n")
    failed = run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor")
    assert failed.returncode == 1 and "source_relationships_silver_slv_orders_product_id" in failed.stdout, failed.stdout
    products = (project["sample"] / "sample_products.csv").read_text().splitlines()[0]
    (project["inbox"] / "products_mend.csv").write_text(f"{products}\n99999,Mended,Toys,19.00,2025-10-07 21:00:00\n")
    mended = tick(project)
    assert "requested raw_products" in mended and "raw_orders" not in mended.split("requested", 1)[1].split("\n")[0], mended
    assert "SUCCESS" in mended and "0 failed" in mended, mended
    status = run_cli({**project["env"], "COLUMNS": "250"}, "dagster", "status")
    row = " ".join(next(line for line in status.stdout.splitlines() if "│ slv_orders " in line).split())
    assert "failed" not in row, status.stdout


def test_a_model_reverted_to_its_last_good_code_after_failing_is_built_again(project, tmp_path):
    """A model broken, its build failed, then reverted: its code was that of its last build, so not
    out of date, and status said the build failed until a run of everything. Its code differs from
    the code that failed: the tick asks for it once (built again: a delivery came meanwhile), and
    status is clear. While broken, a delivery's run fails on it once, and no tick asks again."""
    dbt = tmp_path / "dbt"
    shutil.copytree(Path(__file__).resolve().parents[1] / "dbt", dbt, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    project["env"] = {**project["env"], "CLAWDATA_DBT_PROJECT_DIR": str(dbt)}
    tick(project)
    model = dbt / "models" / "marts" / "fct_category_revenue.sql"
    good = model.read_text()
    model.write_text(good.replace("select", "select no_such_column,", 1))
    broken = run_cli(project["env"], "dagster", "materialize", "--all")
    assert broken.returncode == 1 and "no_such_column" in broken.stdout, broken.stdout
    # A delivery it reads: its run asks for the model, which fails again. That run changed what the
    # model reads, and the next tick asked for it a second time, at the same code on the same data.
    products = (project["sample"] / "sample_products.csv").read_text().splitlines()[0]
    (project["inbox"] / "products_new.csv").write_text(f"{products}\n99998,New,Toys,9.00,2025-10-07 21:00:00\n")
    delivered = run_cli(project["env"], "dagster", "sensor", "tick", "inbox_sensor")
    assert delivered.returncode == 1 and "requested raw_products" in delivered.stdout and "no_such_column" in delivered.stdout, \
        delivered.stdout
    quiet = " ".join(tick(project).split())
    assert "skipped: no new or changed files; failed at this code and on this data, not asked for again: " \
           "fct_category_revenue (run " in quiet, quiet
    assert same_status(project["env"]) is not None  # dbt's failure and skips, read from Dagster's files as through its API
    model.write_text(good)
    fixed = tick(project)
    assert "requested fct_category_revenue" in fixed and "code changed since its build failed" in fixed, fixed
    assert "SUCCESS" in fixed, fixed
    status = run_cli({**project["env"], "COLUMNS": "250"}, "dagster", "status")
    row = " ".join(next(line for line in status.stdout.splitlines() if "│ fct_category_revenue " in line).split())
    assert "failure" not in row and "fresh" in row, status.stdout
    assert "skipped: no new or changed files" in tick(project)  # asked once


def test_a_code_server_whose_dbt_project_changed_waits_for_its_reload_and_keeps_the_deliveries(tmp_path, monkeypatch):
    """Under `dagster dev` an edit to a test's arguments (which renames its check) made every run the
    long-lived code server's sensor asked for fail before any step (its old check key is not in the
    code the run loads), and the tick's cursor had taken in the delivery: it waited for a `materialize`
    by hand. Now the tick says to reload, and keeps its cursor."""
    import json

    import dagster as dg

    from clawdata.defs.automation.inbox_sensor import CODE_LOCATION_STALE, inbox_sensor
    from clawdata.gold import project

    dbt = tmp_path / "dbt"
    shutil.copytree(Path(__file__).parents[1] / "dbt", dbt, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setenv("CLAWDATA_DBT_PROJECT_DIR", str(dbt))
    monkeypatch.setenv("CLAWDATA_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    loaded = project.load(dbt)
    project.prepare_if_stale(loaded)
    project.remember_loaded(loaded)  # as the definitions load
    assert not project.changed_since_loaded()

    schema = dbt / "models" / "marts" / "dim_customers.yml"
    before = schema.read_text()
    schema.write_text(before + "\n# an edit\n")
    assert project.changed_since_loaded()
    cursor = json.dumps({"files": {}, "requested": 3, "unclaimed": []})
    result = inbox_sensor(dg.build_sensor_context(cursor=cursor))
    assert result.skip_reason and result.skip_reason.skip_message == CODE_LOCATION_STALE and not result.run_requests
    assert result.cursor == cursor  # what was delivered meanwhile is still new to the reloaded code's sensor

    schema.write_text(before)  # edited back: the code loaded is the project's again
    assert not project.changed_since_loaded()


def test_a_test_added_or_edited_is_run_alone_by_the_next_tick(project, tmp_path):
    """A new dbt test, or one whose arguments or SQL were edited, builds no table: the sensor never
    asked for it, and status said `not run` (or the old result) until a `materialize` by hand. It
    now asks for those checks alone, once per version, as `dbt build` would run them."""
    proj = tmp_path / "proj"
    shutil.copytree(Path(__file__).parent / "dbt_other", proj)
    staging = proj / "transform" / "staging" / "staging.yml"  # its test that fails on purpose, passing
    staging.write_text(staging.read_text().replace('"delivered"]', '"delivered", "cancelled", "returned"]'))
    env = {**project["env"], "CLAWDATA_DBT_PROJECT_DIR": str(proj)}
    first = run_cli(env, "dagster", "sensor", "tick", "inbox_sensor")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "skipped: no new or changed files" in run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout

    (proj / "checks").mkdir(exist_ok=True)  # its test-paths
    (proj / "checks" / "assert_no_empty_country.sql").write_text(
        "select * from {{ ref('stg_customers') }} where country = ''\n")
    # its arguments edited: dbt names the test by them, so a new check
    staging.write_text(staging.read_text().replace('"returned"]', '"returned", "lost"]'))
    added = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "requested 2 check(s) (tests added or edited since they last ran: " in added, added
    assert "assert_no_empty_country" in added and "accepted_values_stg_orders_status" in added, added
    assert "0 rebuilt, 0 reused; checks 2 passed, 0 warned, 0 failed" in added, added  # no table touched
    quiet = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "skipped: no new or changed files" in quiet and "out of date" not in quiet and "asked for once" not in quiet, quiet

    singular = proj / "checks" / "assert_no_empty_country.sql"
    first_sql = singular.read_text()
    for sql in ("select * from {{ ref('stg_customers') }} where country is null\n", first_sql):
        singular.write_text(sql)  # its SQL edited (same name, new version), then edited back: each runs
        edited = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
        assert "requested 1 check(s) (tests added or edited since they last ran: assert_no_empty_country)" in edited, edited
        assert "checks 1 passed, 0 warned, 0 failed" in edited, edited
        quiet = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
        assert "skipped: no new or changed files" in quiet and "asked for once" not in quiet, quiet
    # its arguments edited back: the earlier check again, whose result is older than its table
    staging.write_text(staging.read_text().replace('"returned", "lost"]', '"returned"]'))
    back = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "requested 1 check(s) (tests added or edited since they last ran: accepted_values_stg_orders_status" in back, back
    shown = run_cli(env, "dagster", "status").stdout
    assets = shown.split("Recent runs")[0]
    assert "stg_customers" in assets and " not run" not in assets, shown  # every check has its result
    # A test added, then run by a `materialize` between two ticks: the tick has nothing to ask (it had
    # asked for it again, naming it added).
    (proj / "checks" / "assert_no_null_customer.sql").write_text("select * from {{ ref('stg_customers') }} where customer_id is null\n")
    assert run_cli(env, "dagster", "materialize", "--all").returncode == 0
    after_cli = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "skipped: no new or changed files" in after_cli and "tests added" not in after_cli, after_cli


def test_a_unit_test_edited_runs_with_its_model_and_a_test_renamed_back_runs_again(project, tmp_path):
    """dbt runs a unit test only with its model: asked for alone, it was skipped ("checks 0 passed, 1
    skipped") and its model, held back by its earlier failure, never built again (an outsider on the
    stack). Edited, it is asked for with its model; mended, again, and the model is built."""
    from tests.dbt_reference import copy_project, edit

    proj = copy_project(Path(__file__).parent / "dbt_projects" / "ledger", tmp_path / "ledger")
    env = {**project["env"], "CLAWDATA_DBT_PROJECT_DIR": str(proj)}
    assert run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").returncode == 0
    assert "skipped: no new or changed files" in run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout

    edit([proj], "models/marts/marts.yml", "balance_cents: 70,", "balance_cents: 71,")  # the unit test fails
    failing = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "requested mart/account_balances (tests added or edited since they last ran: balance_sums_the_months" in failing, failing
    assert "1 failed" in failing and "1 skipped" not in failing, failing  # it ran, with its model
    edit([proj], "models/marts/marts.yml", "balance_cents: 71,", "balance_cents: 70,")  # mended: back to its first version
    mended = " ".join(run_cli(env, "dagster", "sensor", "tick", "inbox_sensor").stdout.split())
    assert "requested mart/account_balances" in mended and "SUCCESS" in mended, mended
    shown = run_cli(env, "dagster", "status").stdout
    balances = next(line for line in shown.splitlines() if "account_balances" in line)
    assert "not built" not in balances and "failed" not in balances, shown
