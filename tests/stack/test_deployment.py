"""The Compose deployment, driven end to end as a user drives it (issue: the Docker deployment)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.oracle import WAREHOUSE_TABLES, expected
from tests.stack.inbox import drop
from tests.stack.runs import event_messages, run, runs, schedule_status

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
TABLES = list(WAREHOUSE_TABLES)


def test_every_service_is_healthy(stack):
    services = {}
    for line in stack.compose("ps", "--format", "{{.Service}} {{.State}} {{.Health}}").stdout.splitlines():
        name, *state = line.split()
        services[name] = state
    assert set(services) == {"postgres", "user_code", "webserver", "daemon"}, services
    assert all(state == ["running", "healthy"] for state in services.values()), services
    print(f"cold start to healthy and loaded: {stack.cold_start_seconds:.1f} s")


def test_the_trimmed_user_code_image_imports_what_runs_use(stack):
    # The Dockerfile removes pyarrow's S3 and Flight libraries and keeps sqlglot's compiled overlay
    # out (requirements-excludes.txt). An upgrade that links them into pyarrow's core, renames them
    # past the Dockerfile's globs, or brings the overlay back (or sqlglot warning without it) fails
    # here by name before any database load does.
    probe = ("import importlib.util, pyarrow.parquet, pyarrow.dataset, pyarrow.compute, pyarrow.fs, sqlglot, dlt, "
             "clawdata.definitions; import sqlglot.lineage, sqlglot.optimizer, sqlglot.tokens; "
             "assert 'S3FileSystem' in pyarrow.fs._not_imported, 'S3 left in pyarrow'; "
             "assert importlib.util.find_spec('pyarrow._flight') is None, 'Flight left in pyarrow'; "
             "assert not sqlglot.tokens.SQLGLOTC_INSTALLED, 'sqlglotc installed'")
    result = stack.compose("exec", "-T", "user_code", "python", "-W", "error::UserWarning", "-c", probe, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_database_on_the_docker_host_is_reachable_by_name(stack):
    """`host.docker.internal` names the Docker host in the code server and in every run container (their
    container context), whatever address the stack's network got: a database source there keeps its URL."""
    resolved = stack.compose("exec", "-T", "user_code", "getent", "hosts", "host.docker.internal", check=False)
    assert resolved.returncode == 0 and resolved.stdout.split()[0].count(".") == 3, resolved.stdout + resolved.stderr
    context = stack.compose("exec", "-T", "user_code", "printenv", "DAGSTER_CONTAINER_CONTEXT").stdout
    assert json.loads(context)["docker"]["container_kwargs"]["extra_hosts"] == {"host.docker.internal": "host-gateway"}


def test_webserver_is_on_localhost_only(stack):
    ports = stack.compose("port", "webserver", "3000").stdout.strip()
    assert ports == f"127.0.0.1:{stack.port}", ports


def test_materialize_all_through_the_webserver(stack):
    result = stack.cli("materialize", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = re.search(r"run ([0-9a-f-]{36})", result.stdout).group(1)

    # Recorded in the Postgres run storage...
    status = stack.compose("exec", "-T", "postgres", "psql", "-U", "dagster", "-d", "dagster", "-tAc",
                           f"SELECT status FROM runs WHERE run_id = '{run_id}'").stdout.strip()
    assert status == "SUCCESS"
    # ...and executed in its own container, launched by the DockerRunLauncher.
    tags = run(stack.graphql, run_id)["tags"]
    assert tags.get("docker/container_id"), tags
    assert any("Launching run in a new container" in m for m in event_messages(stack.graphql, run_id))

    # The warehouse volume holds every table, with the counts computed from the CSV files.
    oracle = expected(SAMPLE)
    counts = stack.warehouse_counts(TABLES)
    for table in ("raw_customers", "slv_customers", "raw_orders", "slv_orders", "raw_products", "slv_products"):
        assert counts[table] == oracle[table], (table, counts[table], oracle[table])
    assert counts["dim_customers"] == oracle["slv_customers"]
    assert all(counts[t] > 0 for t in ("fct_daily_revenue", "fct_category_revenue"))


def test_status_through_the_webserver(stack):
    result = stack.cli("status")
    assert result.returncode == 0, result.stderr
    for table in TABLES:
        assert table in result.stdout
    assert "daemon: healthy" in result.stdout
    assert stack.settings["DAGSTER_POSTGRES_PASSWORD"] not in result.stdout + result.stderr


def test_sensor_tick_through_the_cli(stack):
    result = stack.cli("sensor", "tick", "inbox_sensor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sensor inbox_sensor" in result.stdout


def test_the_schedule_starts_as_the_env_file_says(stack):
    """The test stack's schedule is every minute and starts stopped (CLAWDATA_DAILY_SCHEDULE). That the
    daemon runs it once an operator turns it on, and the run succeeds, two tests show with the runs
    they need anyway (it used to take a test and two minutes of its own): test_concurrency's overlap
    (a scheduled run among every other route's) and test_operations' database source (its rows reach
    gold through a scheduled run)."""
    assert schedule_status(stack.graphql) == "STOPPED"


def test_three_deliveries_reach_gold_through_the_daemon_alone(stack):
    """Three files dropped into the inbox volume, one after another: the sensor and the daemon take
    each in (no `materialize` asked), and gold ends up reflecting all three."""
    customers = "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at\n"
    orders = "order_id,customer_id,product_id,order_date,quantity,unit_price,status,updated_at\n"
    deliveries = [
        ("customers_e2e_1.csv", customers + "800001,Grace,Hopper,GRACE@Navy.mil,,Arlington,us,2026-11-24,2026-11-24 09:00:00\n"
                                            "800002,Alan,Turing,alan@example.org,,Wilmslow,gb,2026-11-24,2026-11-24 09:00:00\n"),
        ("orders_e2e_2.csv", orders + "9000001,800001,1,2026-11-25,2,10.00,Delivered,2026-11-25 09:00:00\n"
                                      "9000002,800002,1,2026-11-25,1,10.00,Cancelled,2026-11-25 09:00:00\n"),
        ("customers_e2e_3.csv", customers + "800001,Grace,Hopper, grace.hopper@navy.mil ,,Arlington,us,2026-11-24,2026-11-26 09:00:00\n"),
    ]
    dropped_at = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in deliveries:
            drop(stack, name, content, Path(tmp))
            time.sleep(5)
    wanted = [[800001, "grace.hopper@navy.mil", 1, "20.00"], [800002, "alan@example.org", 0, "0.00"]]
    query = "SELECT customer_id, email, order_count, lifetime_value FROM dim_customers WHERE customer_id >= 800000 ORDER BY 1"
    deadline, seen = time.monotonic() + 420, None
    while time.monotonic() < deadline:
        seen = stack.warehouse_rows(query)
        if seen == wanted:
            break
        time.sleep(5)
    assert seen == wanted, seen
    def sensor_runs():
        return [r for r in runs(stack.graphql) if r["tags"].get("dagster/sensor_name") == "inbox_sensor"
                and r["creationTime"] >= dropped_at - 1]

    while any(r["status"] not in ("SUCCESS", "FAILURE", "CANCELED") for r in sensor_runs()):  # the replica step
        assert time.monotonic() < deadline + 180, sensor_runs()
        time.sleep(2)
    sensor_runs = sensor_runs()
    assert sensor_runs and all(r["status"] == "SUCCESS" for r in sensor_runs), sensor_runs
    triggers = " ".join(r["tags"].get("clawdata/trigger", "") for r in sensor_runs)
    assert all(name in triggers for name, _ in deliveries), triggers
    assert not [r for r in runs(stack.graphql) if r["creationTime"] >= dropped_at - 1
                and r["tags"].get("clawdata/launched_by") == "cli"]  # the daemon alone


def test_ui_shows_the_assets_in_a_real_browser(stack, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium package is needed for the UI test (.ci/run installs it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=20000", "--window-size=1400,1000"]
    wanted = ("raw_customers", "slv_customers", "dim_customers")
    for attempt in range(4):  # the page fetches its data in real time; a busy server may miss the budget
        dom = subprocess.run([chromium, *flags, "--dump-dom", f"{stack.url}/assets"],
                             capture_output=True, text=True, timeout=180).stdout
        if all(asset in dom for asset in wanted):
            break
        time.sleep(5)
    missing = [asset for asset in wanted if asset not in dom]
    assert not missing, f"{missing} not on the UI's asset page after {attempt + 1} loads; page: {dom[:500]}"
    subprocess.run([chromium, *flags, f"--screenshot={tmp_path / 'assets.png'}", f"{stack.url}/assets"],
                   capture_output=True, timeout=180)
    shot = ROOT / "tests" / "stack" / "last-ui-screenshot.png"
    if (tmp_path / "assets.png").exists():
        shutil.copy(tmp_path / "assets.png", shot)
