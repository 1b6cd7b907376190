"""Readers never wait: a reader outside the stack queries gold on the replica throughout a run that
rewrites silver and gold, and `clawdata sql` / `make sql` answer while that run writes."""

import json
import subprocess
import tempfile
import time
from pathlib import Path

from tests.stack.inbox import drop, remove
from tests.stack.runs import run, runs, schedule_status, start_schedule, stop_schedule, wait_for_run, wait_until_idle

REPLICA = "/replica/warehouse.duckdb"
# New orders: existing customers' and an orphan's, so every gold total changes.
ORDERS = ("order_id,customer_id,product_id,order_date,quantity,unit_price,status,updated_at\n"
          "990001,1,1,2026-11-20,2,10.00,placed,2026-11-20 10:00:00\n"
          "990002,2,2,2026-11-21,1,25.50,shipped,2026-11-21 10:00:00\n"
          "990003,99999999,3,2026-11-21,4,5.25,delivered,2026-11-21 11:00:00\n")
SQL = "SELECT count(*) AS customers, sum(lifetime_value) AS lifetime_value FROM dim_customers"


def start_reader(stack) -> subprocess.Popen:
    script = (Path(__file__).parent / "replica_reader.py").read_text()
    reader = subprocess.Popen(
        ["docker", "run", "--rm", "-i", "-v", f"{stack.name}_replica:/replica:ro", stack.user_code_image,
         "python", "-c", script, REPLICA],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "reading", reader.stderr.read()
    return reader


def stop_reader(reader) -> dict:
    out, err = reader.communicate("stop\n", timeout=120)
    assert reader.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def make_sql(stack, query: str) -> subprocess.CompletedProcess:
    # The stack's own repository copy and compose invocation, as the other Makefile tests use.
    return subprocess.run(["make", "--no-print-directory", "sql", f"COMPOSE={stack.compose_command()}", f"QUERY={query}"],
                          cwd=stack.repo, env=stack.script_env(), capture_output=True, text=True, timeout=300)


def test_reader_loop_never_waits_and_never_sees_a_mixture(stack):
    # The test stack's schedule fires every minute: paused here, so one run (the sensor's) writes.
    schedule_was = schedule_status(stack.graphql)
    stop_schedule(stack.graphql)
    try:
        reader_loop(stack)
    finally:
        if schedule_was == "RUNNING":
            start_schedule(stack.graphql)


def reader_loop(stack):
    # A fresh stack fills itself: the inbox sensor's first run builds everything and publishes.
    first = wait_for_run(stack.graphql, lambda r: r["tags"].get("dagster/sensor_name") == "inbox_sensor",
                         timeout=1200, what="the first sensor run")
    assert first["status"] == "SUCCESS", first
    wait_until_idle(stack.graphql, timeout=600)

    reader = start_reader(stack)
    try:
        with tempfile.TemporaryDirectory() as tmp:  # the sensor's route: a delivery in the inbox
            drop(stack, "orders_readers.csv", ORDERS, Path(tmp))
        # While its run writes: `make sql` and `clawdata sql` answer from the last published version.
        during = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            active = [r for r in runs(stack.graphql) if "orders_readers.csv" in r["tags"].get("clawdata/trigger", "")]
            if active and active[0]["status"] == "STARTED":
                made = make_sql(stack, SQL)
                during.append((active[0]["status"], made))
                csv = stack.compose("exec", "-T", "user_code", "clawdata", "sql", "--format", "csv", SQL)
                during.append((run(stack.graphql, active[0]["runId"])["status"], csv))
                break
            if active and active[0]["status"] in ("SUCCESS", "FAILURE"):
                break
            time.sleep(0.5)
        done = wait_for_run(stack.graphql, lambda r: "orders_readers.csv" in r["tags"].get("clawdata/trigger", ""),
                            timeout=1200, what="ingesting orders_readers.csv")
        assert done["status"] == "SUCCESS", done
        time.sleep(5)  # the reader goes on after the run: how soon does it see the new version?
    finally:
        result = stop_reader(reader)
        remove(stack, "orders_readers.csv")

    reads, errors = result["reads"], result["errors"]
    assert reads, f"no read succeeded; the reader's errors: {errors[:3]}"
    generations = [r[2] for r in reads]
    revenue_by_generation = {}
    for _, _, generation, revenue, _ in reads:
        revenue_by_generation.setdefault(generation, set()).add(revenue)
    newest = max(generations)
    first_new = next(r[0] for r in reads if r[2] == newest)
    print(f"\nreaders: {len(reads)} queries over {reads[-1][0] - reads[0][0]:.1f} s, {len(errors)} errors, "
          f"longest {max(r[1] for r in reads) * 1000:.0f} ms, median {sorted(r[1] for r in reads)[len(reads) // 2] * 1000:.0f} ms; "
          f"generations seen {sorted(set(generations))} (revenue {dict((g, sorted(v)) for g, v in revenue_by_generation.items())}); "
          f"run {done['runId'][:8]} ended {done['endTime'] - done['startTime']:.1f} s after it started; "
          f"new version seen {first_new - done['endTime']:+.2f} s after the run ended")
    for status, made in during:
        print(f"--- clawdata sql while the run was {status} ---\n{made.stdout}{made.stderr}")

    assert not errors, errors[:5]
    assert all(r[4] for r in reads), [r for r in reads if not r[4]][:5]  # never a mixture
    assert generations == sorted(generations)  # never back to an older version
    assert len(set(generations)) >= 2, "the run's new version was never seen"
    # One state per published version: the previous one or the new one, nothing in between.
    assert all(len(v) == 1 for v in revenue_by_generation.values()), revenue_by_generation
    assert during and all(made.returncode == 0 and "lifetime_value" in made.stdout for _, made in during), during
