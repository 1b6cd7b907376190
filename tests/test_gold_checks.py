"""dbt tests as asset checks on clawdata's own project, in-process on a real instance: source tests on
silver (the orphan-orders warning is a WARN check), column types (and silver's descriptions from sources.yml), check results kept by a reused run,
and one check executed alone really runs its dbt test."""

import dagster as dg
import pytest

from tests.conftest import in_process_project

ORPHANS = "source_relationships_silver_slv_orders_customer_id__customer_id__source_silver_slv_customers_"
ONE_CHECK = dg.AssetCheckKey(dg.AssetKey("dim_customers"), "unique_dim_customers_customer_id")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    with in_process_project(tmp_path_factory.mktemp("checks")) as (_, defs):
        with dg.instance_for_test() as instance:
            def run(**kwargs):
                return dg.materialize(defs.assets, instance=instance, resources=defs.resources, raise_on_error=False, **kwargs)

            first, second = run(), run()
            single = run(selection=dg.AssetSelection.checks(ONE_CHECK))
            graph = defs.resolve_asset_graph()
            latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(graph.asset_check_keys))
            yield {"first": first, "second": second, "single": single, "graph": graph, "latest": latest}


def evaluations(result) -> dict[dg.AssetCheckKey, dg.AssetCheckEvaluation]:
    return {dg.AssetCheckKey(e.asset_key, e.check_name): e for e in result.get_asset_check_evaluations()}


def test_source_tests_are_checks_on_silver_and_the_orphans_warn(runs):
    assert runs["first"].success
    checks = evaluations(runs["first"])
    orphans = checks[dg.AssetCheckKey(dg.AssetKey("slv_orders"), ORPHANS)]
    assert not orphans.passed and orphans.severity == dg.AssetCheckSeverity.WARN
    on_silver = [k for k in checks if k.asset_key.path[0].startswith("slv_") and k.name.startswith("source_")]
    assert len(on_silver) >= 20
    # results, not observations: no event log gets an observation per test
    assert not [e for e in runs["first"].all_events if e.event_type_value == "ASSET_OBSERVATION"]


def test_gold_materializations_carry_column_types_descriptions_and_rows(runs):
    """On the materialization itself, which the UI's Columns table reads: built and reused alike."""
    for run in (runs["first"], runs["second"]):
        materialization = next(m.event_specific_data.materialization for m in run.get_asset_materialization_events()
                               if m.asset_key == dg.AssetKey("dim_customers"))
        columns = {c.name: c for c in materialization.metadata["dagster/column_schema"].schema.columns}
        assert columns["lifetime_value"].type.startswith("DECIMAL") and columns["customer_id"].description == "Primary key."
        assert materialization.metadata["dagster/row_count"].value == 600


def test_silver_columns_carry_the_descriptions_of_sources_yml(runs):
    silver = next(m.event_specific_data.materialization for m in runs["first"].get_asset_materialization_events()
                  if m.asset_key == dg.AssetKey("slv_customers"))
    columns = {c.name: c for c in silver.metadata["dagster/column_schema"].schema.columns}
    assert columns["customer_id"].description == "Business key from the CRM."
    assert columns["customer_id"].type == "BIGINT"


def test_a_reused_run_keeps_every_check_result(runs):
    assert runs["second"].success
    reused = [m for m in runs["second"].get_asset_materialization_events()
              if m.event_specific_data.materialization.metadata["reused"].value
              and m.asset_key.to_user_string() != "warehouse_replica"]  # the read path's copy, not a layer's table
    assert len(reused) == 10
    rows = {m.asset_key.to_user_string(): m.event_specific_data.materialization.metadata["dagster/row_count"].value for m in reused}
    assert rows["dim_customers"] == 600
    first, second = evaluations(runs["first"]), evaluations(runs["second"])
    assert set(second) == set(first)
    assert {k: (e.passed, e.severity) for k, e in second.items()} == {k: (e.passed, e.severity) for k, e in first.items()}


def test_one_check_executed_alone_runs_its_dbt_test(runs):
    single = runs["single"]
    assert single.success
    assert single.get_asset_materialization_events() == []
    [(key, evaluation)] = evaluations(single).items()
    assert key == ONE_CHECK and evaluation.passed
    assert "reused" not in evaluation.metadata and evaluation.metadata["status"].value == "pass"  # dbt's own result
    assert evaluation.metadata["checked_on"].value == "whole table"


def test_an_error_of_the_dbt_invocation_says_what_dbt_says_under_its_heading():
    """`dbt build: Compilation Error` alone sent a user to the logs for the cause."""
    from dbt.exceptions import CompilationError

    from clawdata.defs.gold.assets import _invocation_error

    error = CompilationError('dbt found 2 package(s) specified in packages.yml, but only 0 package(s) installed in '
                             'dbt_packages. Run "dbt deps" to install package dependencies.')
    assert _invocation_error(error) == ('Compilation Error: dbt found 2 package(s) specified in packages.yml, but only 0 '
                                        'package(s) installed in dbt_packages. Run "dbt deps" to install package dependencies.')
    assert _invocation_error(RuntimeError("")) == "RuntimeError"
    assert _invocation_error(RuntimeError("one line")) == "one line"


def test_a_failed_test_is_named_with_its_file_as_a_model_is():
    from clawdata.defs.gold.assets import _failure

    generic = {"resource_type": "test", "name": "accepted_values_dim_status", "original_file_path": "models/marts/dim.yml"}
    singular = {"resource_type": "test", "name": "assert_sums", "original_file_path": "tests/assert_sums.sql"}
    assert _failure(generic, {"data": {"num_failures": 1}}) == "test accepted_values_dim_status (models/marts/dim.yml): failed (1 failing row)"
    assert _failure(singular, {"data": {"num_failures": 2607}}) == "test assert_sums (tests/assert_sums.sql): failed (2607 failing rows)"


def test_a_python_models_error_is_its_exception_not_its_traceback():
    """A Python model's error is dbt-duckdb's traceback: its frames came first, and the exception (what
    to fix) was cut off at the line's length. The frames go; the exception stays whole."""
    from clawdata.defs.gold.assets import _error_text

    frames = "".join(f'  File "/venv/lib/python3.11/site-packages/dbt/adapters/duckdb/m{i}.py", line {i}, in run\n    x = f{i}()\n'
                     for i in range(12))
    message = ("Runtime Error in model py_fail (models/marts/py_fail.py)\n  Python model failed:\n"
               f"  Traceback (most recent call last):\n{frames}"
               '  _duckdb.BinderException: Binder Error: Referenced column "account_idd" not found in FROM clause!\n'
               '  Candidate bindings: "account_id", "account_name"\n')
    assert _error_text(message) == ('Python model failed: _duckdb.BinderException: Binder Error: Referenced column '
                                    '"account_idd" not found in FROM clause! Candidate bindings: "account_id", "account_name"')


def test_a_sql_errors_line_is_said_to_be_the_compiled_sqls():
    """DuckDB's `LINE 68` counts the lines of the SQL dbt sent, not of the model's file."""
    from clawdata.defs.gold.assets import _error_text

    message = ('Runtime Error in model mrr (models/mrr.sql)\n  Parser Error: syntax error at or near "selec"\n  \n'
               '  LINE 68: selec * from final\n          ^\n')
    assert _error_text(message) == 'Parser Error: syntax error at or near "selec" LINE 68 of the compiled SQL: selec * from final ^'


def test_a_unit_tests_error_is_its_diff_a_row_a_line_or_its_words():
    """A failed expectation keeps dbt's diff a row a line; a unit test that did not run (its fixture
    names a column that does not exist) is its error on one line, not the word None."""
    from clawdata.defs.gold.assets import _node_error

    diff = "actual differs from expected:\n\n@@ ,id,total\n→  ,1 ,72→70\n"
    assert _node_error("unit_test.shop.orders.sums", diff) == "actual differs from expected:\n    @@ ,id,total\n    →  ,1 ,72→70"
    error = "Compilation Error in unit_test sums (models/schema.yml)\n  Invalid column name: 'totl' in unit test fixture"
    assert _node_error("unit_test.shop.orders.sums", error) == "Invalid column name: 'totl' in unit test fixture"
    assert _node_error("model.shop.orders", diff) == "actual differs from expected: @@ ,id,total → ,1 ,72→70"


def test_a_run_of_the_models_a_failing_source_test_holds_back_does_not_build_them(tmp_path):
    """An order of a product silver lacks fails the relationships test (error) on slv_orders, and the
    gold models behind it are not built. The inbox sensor's next run asked for those models alone,
    without the test: they were built over the orphan and published. Now that run skips them, as
    `dbt build` of the project would, naming the test; a delivery that mends the data builds them."""
    held = ["fct_customer_category_revenue", "fct_category_revenue"]
    with in_process_project(tmp_path) as (paths, defs), dg.instance_for_test() as instance:
        def run(**kwargs):
            return dg.materialize(defs.assets, instance=instance, resources=defs.resources, raise_on_error=False, **kwargs)

        assert run().success
        header = "order_id,customer_id,product_id,order_date,quantity,unit_price,status,updated_at"
        (paths["inbox"] / "orders_orphan.csv").write_text(f"{header}\n9000001,1,99999,2025-10-06,3,19.00,delivered,2025-10-07 21:06:24\n")
        assert not run().success  # the relationships test on product_id fails; what it holds back is not built
        again = run(selection=held)
        assert not again.success and not again.get_asset_materialization_events()
        [failure] = [e.event_specific_data.error.message for e in again.all_events if e.is_step_failure]
        assert "slv_orders:source_relationships_silver_slv_orders_product_id" in failure and "`dbt build` skips it" in failure, failure
        (paths["inbox"] / "products_mend.csv").write_text(
            (paths["sample"] / "sample_products.csv").read_text().splitlines()[0] + "\n" + "99999,Mended,Toys,19.00,2025-10-07 21:00:00\n")
        mended = run()
        assert mended.success, [e.event_specific_data.error.message for e in mended.all_events if e.is_step_failure]
