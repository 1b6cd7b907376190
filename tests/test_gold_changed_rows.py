"""dbt's row-level tests on the rows an incremental build recomputed (gold/changed_rows.py): which
tests qualify, and, through the CLI on a copy of the shipped project, that a scoped test catches a
bad changed row and reads no other (a bad row planted outside the changes counts only once the whole
table is read), and that the whole table is read again after a failure or an edit of the test's
definition."""

import json
import shutil

import dagster as dg
import duckdb
import pytest

from clawdata.gold import changed_rows
from tests.conftest import ROOT, make_project, run_cli
from tests.test_deliveries import CUSTOMERS, ORDERS, deliver, latest_check as checked, latest_metadata, sample_row

MODEL = changed_rows.of_model({"config": {"meta": {"clawdata": {
    "recompute": "customer_id", "changed_in": [["slv_customers", "customer_id"], ["slv_orders", "customer_id"]]}}}})


def a_test(name: str, column: str | None = "customer_id", namespace=None, combination_of_columns=None, **config) -> dict:
    kwargs = {"column_name": column} if combination_of_columns is None else {"combination_of_columns": combination_of_columns}
    return {"column_name": column,
            "test_metadata": {"name": name, "namespace": namespace, "kwargs": kwargs},
            "config": {"warn_if": "!= 0", "error_if": "!= 0", "fail_calc": "count(*)", "where": None, **config}}


def test_which_tests_read_the_changed_rows_alone():
    assert changed_rows.row_level(a_test("not_null", "email"), MODEL)
    assert changed_rows.row_level(a_test("accepted_values", "country"), MODEL)
    assert changed_rows.row_level(a_test("relationships"), MODEL)
    assert changed_rows.row_level(a_test("accepted_range", "value", "dbt_utils"), MODEL)
    assert changed_rows.row_level(a_test("unique"), MODEL)  # the recomputed column: all its rows are new
    assert not changed_rows.row_level(a_test("unique", "email"), MODEL)  # could repeat an unchanged row
    assert not changed_rows.row_level(a_test("not_null", warn_if="> 10"), MODEL)  # counts rows: whole table
    assert not changed_rows.row_level(a_test("not_null", fail_calc="sum(n)"), MODEL)
    assert changed_rows.row_level(a_test("not_null", warn_if="!=0"), MODEL)  # the default, spelt otherwise
    assert not changed_rows.row_level(a_test("my_test"), MODEL)  # unknown: whole table
    assert changed_rows.row_level(a_test("my_test", meta={"clawdata": {"row_level": True}}), MODEL)
    assert changed_rows.of_model({"config": {"meta": {}}}) is None  # declares nothing: whole table
    two_column_key = changed_rows.of_silver("slv_lines", ["order_id", "line"])
    assert changed_rows.row_level(a_test("not_null", "line"), two_column_key)
    assert not changed_rows.row_level(a_test("unique", "line"), two_column_key)  # one column of the key
    # A key of several columns is checked on the changed rows when it holds the whole rewritten key.
    pair = a_test("unique_combination_of_columns", None, combination_of_columns=["customer_id", "category"])
    assert changed_rows.row_level(pair, MODEL)  # no unchanged row shares a rewritten customer_id
    assert changed_rows.row_level({**pair, "test_metadata": {**pair["test_metadata"], "namespace": "dbt_utils"}}, MODEL)
    assert not changed_rows.row_level(a_test("unique_combination_of_columns", None, combination_of_columns=["email", "category"]), MODEL)
    assert changed_rows.row_level(a_test("unique_combination_of_columns", None, combination_of_columns=["Order_ID", '"line"']), two_column_key)
    assert not changed_rows.row_level(a_test("unique_combination_of_columns", None, combination_of_columns=["line"]), two_column_key)
    assert not changed_rows.row_level(a_test("unique_combination_of_columns", None), MODEL)  # names no columns
    assert not changed_rows.row_level({**pair, "test_metadata": {**pair["test_metadata"], "namespace": "other_pkg"}}, MODEL)
    assert not changed_rows.row_level(a_test("unique_combination_of_columns", None, combination_of_columns="customer_id"), MODEL)


def test_the_changed_rows_are_the_groups_the_pre_hook_deleted():
    assert MODEL.predicate() == ('"customer_id" in (select "customer_id" from "_clawdata"."slv_customers__changes"'
                                 ' union select "customer_id" from "_clawdata"."slv_orders__changes")')
    assert changed_rows.scoped_where(a_test("not_null", where="country = 'DE'"), MODEL) == f"(country = 'DE') and ({MODEL.predicate()})"
    assert changed_rows.of_silver("slv_lines", ["order_id", "line"]).predicate() == \
        '("order_id", "line") in (select "order_id", "line" from "_clawdata"."slv_lines__changes")'
    assert changed_rows.of_model({"config": {"meta": {"clawdata": {"recompute": "x", "changed_in": "nonsense"}}}}) is None


COUNTRY = "        description: ISO 3166-1 alpha-2 country code.\n"
COUNTRY_TEST = """        data_tests:
          - accepted_values:
              arguments:
                values: {countries}
              config:
                severity: warn
"""


@pytest.fixture
def project_copy(tmp_path):
    paths = make_project(tmp_path)
    dbt = tmp_path / "dbt"
    shutil.copytree(ROOT / "dbt", dbt, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    with (paths["sample"] / "sample_customers.csv").open() as f:
        countries = sorted({line.split(",")[6].strip().upper() for line in list(f)[1:]} - {""})
    properties = dbt / "models" / "marts" / "dim_customers.yml"  # a warn test on the country column
    assert COUNTRY in properties.read_text()
    properties.write_text(properties.read_text().replace(COUNTRY, COUNTRY + COUNTRY_TEST.format(countries=countries)))
    paths["env"] = {**paths["env"], "CLAWDATA_DBT_PROJECT_DIR": str(dbt)}
    paths["dbt"] = dbt
    return paths


def materialize(paths) -> str:
    done = run_cli(paths["env"], "dagster", "materialize", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_scoped_test_catches_a_bad_changed_row_and_reads_the_whole_table_after(project_copy):
    paths = project_copy
    materialize(paths)
    name = next(n for n in _test_names(paths) if n.startswith("accepted_values_dim_customers_"))
    assert checked(paths["home"], "dim_customers", name).metadata["checked_on"].value == "whole table"  # first build

    with duckdb.connect(str(paths["warehouse"])) as conn:  # a bad row the next builds do not recompute
        conn.execute("UPDATE dim_customers SET country = 'YY' WHERE customer_id = 3")
    c1, c2 = sample_row(paths, "customers", "customer_id", 1), sample_row(paths, "customers", "customer_id", 2)
    row = "{id},{first_name},{last_name},{email},,{city},{country},{signup_date},2099-01-01 00:00:00"
    deliver(paths, "customers_d1.csv", CUSTOMERS, [row.format(id=1, **{**c1, "country": "ZZ"})])
    out = materialize(paths)
    bad = checked(paths["home"], "dim_customers", name)
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.WARN, out
    assert bad.metadata["checked_on"].value == "changed rows"
    assert bad.metadata["dagster_dbt/failed_row_count"].value == 1  # customer 1 alone: the test read the changed rows
    assert checked(paths["home"], "dim_customers", "not_null_dim_customers_last_name").metadata["checked_on"].value == "changed rows"
    assert checked(paths["home"], "fct_daily_revenue", "assert_revenue_reconciles").metadata["checked_on"].value == "whole table"
    assert checked(paths["home"], "slv_customers", "source_unique_silver_slv_customers_customer_id").metadata["checked_on"].value == "changed rows"

    # The last result failed: the next build reads the whole table, and the bad row is still there.
    (paths["dbt"] / "tests" / "generic" / "non_negative.sql").write_text(
        (paths["dbt"] / "tests" / "generic" / "non_negative.sql").read_text().replace("< 0", "< 0 -- edited"))
    deliver(paths, "customers_d2.csv", CUSTOMERS, [row.format(id=2, **c2)])
    materialize(paths)
    again = checked(paths["home"], "dim_customers", name)
    assert not again.passed and again.metadata["checked_on"].value == "whole table"
    assert again.metadata["dagster_dbt/failed_row_count"].value == 2  # customers 1 and 3
    # The generic test's definition changed: its tests read the whole table once; the others do not.
    assert checked(paths["home"], "dim_customers", "non_negative_dim_customers_order_count").metadata["checked_on"].value == "whole table"
    assert checked(paths["home"], "dim_customers", "not_null_dim_customers_last_name").metadata["checked_on"].value == "changed rows"


KEY_TEST = "unique_combination_of_columns_fct_customer_category_revenue_customer_id__category"
KEY = "            combination_of_columns: [customer_id, category]\n"


def test_a_scoped_key_of_two_columns_reads_the_recomputed_customers_alone(project_copy):
    """The key test of fct_customer_category_revenue, (customer_id, category), on a delivery reads the
    rows of the customers it recomputed: a duplicate planted on another customer is not counted until
    the whole table is read again (here: after an edit of the test's definition)."""
    paths = project_copy
    properties = paths["dbt"] / "models" / "marts" / "fct_customer_category_revenue.yml"
    assert KEY in properties.read_text()
    properties.write_text(properties.read_text().replace(KEY, KEY + "          config:\n            severity: warn\n"))
    materialize(paths)
    assert checked(paths["home"], "fct_customer_category_revenue", KEY_TEST).metadata["checked_on"].value == "whole table"

    order = sample_row(paths, "orders", "order_id", 1)
    with duckdb.connect(str(paths["warehouse"])) as conn:  # a duplicated key, on a customer the delivery leaves alone
        conn.execute("insert into fct_customer_category_revenue select customer_id, category, 0, 0, 0"
                     " from fct_customer_category_revenue where customer_id <> ? order by customer_id limit 1",
                     [int(order["customer_id"])])
    new_order = "990001,{customer_id},{product_id},{order_date},1,{unit_price},placed,2099-01-01 00:00:00".format(**order)
    deliver(paths, "orders_d1.csv", ORDERS, [new_order])
    materialize(paths)
    scoped = checked(paths["home"], "fct_customer_category_revenue", KEY_TEST)
    assert latest_metadata(paths, "fct_customer_category_revenue")["full_refresh"] is False
    assert scoped.passed and scoped.metadata["checked_on"].value == "changed rows", scoped

    generic = paths["dbt"] / "tests" / "generic" / "unique_combination_of_columns.sql"
    generic.write_text(generic.read_text().replace("having count(*) > 1", "having count(*) > 1 -- edited"))
    materialize(paths)
    whole = checked(paths["home"], "fct_customer_category_revenue", KEY_TEST)
    assert not whole.passed and whole.metadata["checked_on"].value == "whole table", whole
    assert whole.metadata["dagster_dbt/failed_row_count"].value == 1


# A user's model that declares only the orders log but also reads customers (their country).
ORDER_COUNTRIES = """{{ config(
    materialized='incremental',
    incremental_strategy='append',
    meta={'clawdata': {'recompute': 'order_id', 'changed_in': [['slv_orders', 'order_id']]}},
    pre_hook="{{ clawdata_delete_changed() }}",
) }}
select orders.order_id, customers.country
from {{ source('silver', 'slv_orders') }} as orders
left join {{ source('silver', 'slv_customers') }} as customers using (customer_id)
{% if is_incremental() %}
where {{ clawdata_is_changed('orders.order_id') }}
{% endif %}
"""


def test_a_model_reading_a_silver_table_its_declaration_leaves_out_starts_over_when_that_table_changes(project_copy):
    """No change log names the orders whose customer moved country: the model starts over rather than
    keep stale rows; a change its declaration names still builds incrementally."""
    paths = project_copy
    (paths["dbt"] / "models" / "marts" / "order_countries.sql").write_text(ORDER_COUNTRIES)
    materialize(paths)

    def stale_rows() -> int:
        with duckdb.connect(str(paths["warehouse"]), read_only=True) as conn:
            return conn.execute("SELECT count(*) FROM main.order_countries AS m JOIN silver.slv_orders USING (order_id) "
                                "LEFT JOIN silver.slv_customers AS c USING (customer_id) "
                                "WHERE m.country IS DISTINCT FROM c.country").fetchone()[0]

    with (paths["sample"] / "sample_customers.csv").open() as f:
        known = {line.split(",")[0] for line in f}
    with (paths["sample"] / "sample_orders.csv").open() as f:  # an order of a customer the CRM export has
        o1 = sample_row(paths, "orders", "order_id", next(int(l.split(",")[0]) for l in list(f)[1:] if l.split(",")[1] in known))
    deliver(paths, "orders_d1.csv", ORDERS, [",".join([*list(o1.values())[:4], "7", *list(o1.values())[5:7], "2099-01-01 00:00:00"])])
    materialize(paths)
    assert latest_metadata(paths, "order_countries")["full_refresh"] is False  # the orders log names its change
    customer = int(o1["customer_id"])
    c = sample_row(paths, "customers", "customer_id", customer)
    row = "{customer_id},{first_name},{last_name},{email},,{city},{country},{signup_date},2099-01-01 00:00:00"
    deliver(paths, "customers_d1.csv", CUSTOMERS, [row.format(**{**c, "country": "NZ"})])
    materialize(paths)
    assert latest_metadata(paths, "order_countries")["full_refresh"] is True
    assert stale_rows() == 0


def _test_names(paths) -> list[str]:
    manifest = json.loads((paths["dbt"] / "target" / "manifest.json").read_text())
    return [n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"]
