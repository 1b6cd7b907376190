"""Daily deliveries: each run takes in only the files that changed, and the tables it leaves are the
ones a full rebuild from the same files gives (issue 12)."""

import csv
import re
import time
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from tests.conftest import run_cli
from tests.oracle import GOLD_MODELS, expected
from clawdata.warehouse.readers import read_only, table_checksum

SILVER_AND_GOLD = ("slv_customers", "slv_orders", "slv_products", *GOLD_MODELS)
BRONZE = ("raw_customers", "raw_orders", "raw_products")
CUSTOMERS = "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at"
ORDERS = "order_id,customer_id,product_id,order_date,quantity,unit_price,status,updated_at"
PRODUCTS = "product_id,product_name,category,unit_price,updated_at"


def sample_row(project, name: str, key: str, value: int) -> dict:
    with (project["sample"] / f"sample_{name}.csv").open(newline="") as f:
        return next(r for r in csv.DictReader(f) if r[key] == str(value))


def deliver(project, name: str, header: str, rows: list[str]) -> Path:
    path = project["inbox"] / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def materialize(project, *flags: str) -> str:
    result = run_cli(project["env"], "dagster", "materialize", "--all", *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def contents(project) -> dict:
    """Checksums of silver and gold, and of bronze without its load times."""
    with read_only(project["warehouse"]) as conn:
        sums = {t: table_checksum(conn, t) for t in SILVER_AND_GOLD}
        for t in BRONZE:
            sums[t] = conn.execute(
                f"SELECT count(*), md5(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR))) "
                f"FROM (SELECT * EXCLUDE (_loaded_at) FROM {t}) AS t").fetchone()
    return sums


def latest_metadata(project, asset: str) -> dict:
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(project["home"])))
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def latest_check(home, asset: str, name: str) -> dg.AssetCheckEvaluation:
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    check = dg.AssetCheckKey(dg.AssetKey(asset), name)
    return instance.event_log_storage.get_asset_check_execution_history(check, limit=1)[0].event.dagster_event.event_specific_data


def assert_incremental(project, silver=("slv_customers", "slv_orders")) -> None:
    """The silver tables named were merged, not rebuilt; the incremental models were not refreshed in full."""
    for table in silver:
        assert latest_metadata(project, table)["incremental"] is True, table
        evaluation = latest_check(project["home"], table, "row_count_sane")  # exact, on the merged keys alone
        assert evaluation.passed and evaluation.metadata["checked_on"].value == "changed rows", evaluation
    for model, test in (("dim_customers", "unique_dim_customers_customer_id"),
                        ("fct_daily_revenue", "unique_fct_daily_revenue_order_date"),
                        ("fct_customer_category_revenue", "unique_combination_of_columns_fct_customer_category_revenue_customer_id__category")):
        built = latest_metadata(project, model)  # reused when the delivery touched nothing it reads
        assert built.get("reused") or built["full_refresh"] is False, model
        if not built.get("reused"):  # its row-level tests read the recomputed rows alone (gold/changed_rows.py)
            evaluation = latest_check(project["home"], model, test)
            assert evaluation.passed and evaluation.metadata["checked_on"].value == "changed rows", evaluation


def test_deliveries_one_by_one_give_the_tables_of_a_full_rebuild(project):
    materialize(project)
    c1, o1, o2 = sample_row(project, "customers", "customer_id", 1), sample_row(project, "orders", "order_id", 1), \
        sample_row(project, "orders", "order_id", 2)

    # 1: a changed customer and a new one; an order moved to another date and customer, a new order on a new date
    deliver(project, "customers_d1.csv", CUSTOMERS, [
        f"1,{c1['first_name']},{c1['last_name']},  NEW@Example.COM ,,{c1['city']},{c1['country']},{c1['signup_date']},2099-01-01 00:00:00",
        "90001,Grace,Hopper,grace@example.com,,Arlington,US,2026-01-01,2099-01-01 00:00:00",
    ])
    deliver(project, "orders_d1.csv", ORDERS, [
        "1,2,1,2026-10-15,3,10.00,Delivered,2099-01-01 00:00:00",
        "900001,90001,1,2030-01-01,1,99.00,Delivered,2099-01-01 00:00:00",
    ])
    out = materialize(project)
    assert re.search(r"✓ raw_products .*reused", out), out  # an untouched source is not read again
    assert_incremental(project)
    bronze = latest_metadata(project, "raw_customers")  # what the UI shows: which files, when, how many rows
    assert bronze["files_loaded"] == ["customers_d1.csv"]
    assert {r.data["file"]: r.data["rows"] for r in bronze["deliveries"].records}["customers_d1.csv"] == 2
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT revenue FROM fct_daily_revenue WHERE order_date = '2030-01-01'").fetchone() == (99,)
        assert conn.execute("SELECT order_count FROM dim_customers WHERE customer_id = 90001").fetchone() == (1,)

    # 2: a tie on updated_at with the sample: the later file wins
    deliver(project, "orders_d2.csv", ORDERS, [f"2,{o2['customer_id']},{o2['product_id']},{o2['order_date']},7,1.00,Returned,{o2['updated_at']}"])
    materialize(project)
    assert_incremental(project, ["slv_orders"])

    # 3: delivery 1's orders re-delivered without the new order: its date and its revenue go away
    deliver(project, "orders_d1.csv", ORDERS, ["1,2,1,2026-10-15,3,10.00,Delivered,2099-01-01 00:00:00"])
    materialize(project)
    assert_incremental(project, ["slv_orders"])
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM raw_orders WHERE _source_file LIKE '%orders_d1.csv'").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM fct_daily_revenue WHERE order_date = '2030-01-01'").fetchone() == (0,)
        assert conn.execute("SELECT order_count FROM dim_customers WHERE customer_id = 90001").fetchone() == (0,)

    # 4: delivery 1's customers withdrawn: customer 1 is as in the sample again, 90001 is gone
    (project["inbox"] / "customers_d1.csv").unlink()
    materialize(project)
    assert_incremental(project, ["slv_customers"])

    incremental = contents(project)
    oracle = expected(project["sample"], project["inbox"])
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT email FROM slv_customers WHERE customer_id = 1").fetchone() == (oracle["emails"][1],)
        assert conn.execute("SELECT count(*) FROM dim_customers WHERE customer_id = 90001").fetchone() == (0,)
        assert conn.execute("SELECT sum(revenue) FROM fct_daily_revenue").fetchone()[0] == oracle["revenue"]
        assert conn.execute("SELECT status FROM slv_orders WHERE order_id = 2").fetchone() == ("returned",)
        assert conn.execute("SELECT order_date, customer_id FROM slv_orders WHERE order_id = 1").fetchone()[1] == 2
    for table in BRONZE + SILVER_AND_GOLD[:3]:
        assert incremental[table][0] == oracle[table], table
    assert o1["order_date"] != "2026-10-15"

    out = materialize(project, "--full-refresh")
    assert "11 rebuilt, 0 reused" in out, out
    assert latest_metadata(project, "slv_orders")["incremental"] is False
    assert latest_metadata(project, "fct_daily_revenue")["full_refresh"] is True
    assert contents(project) == incremental

    # 5: a product moves to another category: the per-customer sales start over (no change log names
    # the customers of a product), the per-category sums follow
    p1 = sample_row(project, "products", "product_id", 1)
    moved = "Grocery" if p1["category"] != "Grocery" else "Toys"
    deliver(project, "products_d5.csv", PRODUCTS, [f'1,"{p1["product_name"]}",{moved},{p1["unit_price"]},2099-01-01 00:00:00'])
    materialize(project)
    assert latest_metadata(project, "fct_customer_category_revenue")["full_refresh"] is True
    assert latest_metadata(project, "dim_customers").get("reused")  # it reads no product
    after_the_move = contents(project)
    assert after_the_move["fct_category_revenue"] != incremental["fct_category_revenue"]  # its orders moved
    materialize(project, "--full-refresh")
    assert contents(project) == after_the_move


def test_a_bad_delivery_fails_alone_and_the_next_good_one_lands(project):
    materialize(project)
    before = contents(project)
    bad = deliver(project, "orders_bad.csv", ORDERS, ["900001,1,1,2026-13-45,1,9.00,Delivered,2099-01-01 00:00:00"])
    result = run_cli(project["env"], "dagster", "materialize", "--all")
    assert result.returncode != 0
    assert "orders_bad.csv line 2" in result.stdout + result.stderr
    assert contents(project) == before

    bad.unlink()
    deliver(project, "orders_good.csv", ORDERS, ["900002,1,1,2026-11-30,1,9.00,Delivered,2099-01-01 00:00:00"])
    materialize(project)
    assert_incremental(project, ["slv_orders"])
    assert latest_metadata(project, "raw_orders")["files_loaded"] == ["orders_good.csv"]
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM raw_orders WHERE order_id IN (900001, 900002)").fetchone() == (1,)
        assert conn.execute("SELECT orders FROM fct_daily_revenue WHERE order_date = '2026-11-30'").fetchone()[0] >= 1
    # gold's freshness policy, in status: fresh after the run
    assert re.search(r"dim_customers .* fresh \(< 26 h\)", run_cli(project["env"], "dagster", "status").stdout)


def test_status_says_late_once_the_freshness_window_has_passed():
    from clawdata.cli.status import _freshness

    node = {"internalFreshnessPolicy": {"failWindowSeconds": 3600}, "freshnessStatusInfo": {"freshnessStatus": "UNKNOWN"}}
    assert "late" in _freshness(node, {"timestamp": str((time.time() - 3700) * 1000)})
    assert "fresh" in _freshness(node, {"timestamp": str((time.time() - 60) * 1000)})
    assert "never built" in _freshness(node, None)  # a model added since the last build is not "late"
    assert "late" in _freshness({**node, "freshnessStatusInfo": {"freshnessStatus": "DEGRADED"}}, {"timestamp": str(time.time() * 1000)})


def test_status_calls_a_daemon_silent_for_two_minutes_not_running():
    """Dagster calls a daemon healthy for 30 min after its last heartbeat: status said `healthy` that
    long after `dagster dev` stopped, while deliveries waited in the inbox."""
    from clawdata.cli.status import DAEMON_SILENT_SECONDS, _daemon_alive

    beat = {"daemonType": "SENSOR", "healthy": True, "required": True}
    assert _daemon_alive({**beat, "lastHeartbeatTime": time.time() - 20})
    assert not _daemon_alive({**beat, "lastHeartbeatTime": time.time() - DAEMON_SILENT_SECONDS - 5})
    assert not _daemon_alive({**beat, "lastHeartbeatTime": None})
    assert not _daemon_alive({**beat, "healthy": False, "lastHeartbeatTime": time.time()})  # Dagster's verdict stands
