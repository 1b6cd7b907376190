"""Incremental runs: unchanged inputs reuse their tables; a change rebuilds exactly what it feeds."""

import re

from tests.conftest import run_cli
from tests.oracle import GOLD_MODELS, expected
from clawdata.warehouse.readers import read_only, table_checksum

ORDERS_HEADER = "order_id,customer_id,product_id,order_date,quantity,unit_price,status,updated_at"


def materialize_all(project) -> dict[str, bool]:
    """Runs `materialize --all`; returns {asset: reused?}."""
    result = run_cli(project["env"], "dagster", "materialize", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = re.findall(r"✓ (\w+)[ \t]*(.*)", result.stdout)  # a dbt model's line may end at its name
    return {asset: "reused" in detail for asset, detail in lines if asset != "warehouse_replica"}  # not a table


def test_second_run_reuses_everything_and_a_change_rebuilds_what_it_feeds(project):
    first = materialize_all(project)
    assert len(first) == 10 and not any(first.values())
    with read_only(project["warehouse"]) as conn:
        before = {t: table_checksum(conn, t) for t in first}

    second = materialize_all(project)
    assert all(second.values()), second
    with read_only(project["warehouse"]) as conn:
        assert {t: table_checksum(conn, t) for t in first} == before

    (project["inbox"] / "orders_late.csv").write_text(
        f"{ORDERS_HEADER}\n1,1,1,2026-11-01,2,10.00,Delivered,2099-01-01 00:00:00\n"
    )
    third = materialize_all(project)
    rebuilt = {asset for asset, reused in third.items() if not reused}
    assert rebuilt == {"raw_orders", "slv_orders", *GOLD_MODELS}, third
    oracle = expected(project["sample"], project["inbox"])
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT count(*) FROM raw_orders").fetchone()[0] == oracle["raw_orders"]
        assert conn.execute("SELECT sum(revenue) FROM fct_daily_revenue").fetchone()[0] == oracle["revenue"]
        for table in ("raw_customers", "slv_customers", "raw_products", "slv_products"):
            assert table_checksum(conn, table) == before[table]

    # The same row again, in a file of its own: bronze takes the file in, silver's merge finds
    # nothing that differs (its data version stays), and gold is kept.
    (project["inbox"] / "orders_late_again.csv").write_text(
        f"{ORDERS_HEADER}\n1,1,1,2026-11-01,2,10.00,Delivered,2099-01-01 00:00:00\n"
    )
    fourth = materialize_all(project)
    assert {asset for asset, reused in fourth.items() if not reused} == {"raw_orders", "slv_orders"}, fourth
