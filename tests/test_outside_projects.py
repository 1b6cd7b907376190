"""Outside-shaped dbt projects through clawdata, edit by edit, beside plain dbt.

tests/dbt_projects/ledger (a finance ledger: seeds in schema `raw` read through a source, incremental
append and delete+insert models, a snapshot, a local package, a custom generate_schema_name, vars,
a unit test) and tests/dbt_projects/shop (the jaffle-shop shape: seeds named raw_customers and
raw_orders in main, beside bronze's tables of those names, a seed/source pair read through an
ephemeral model, a macro, a var, a unit test) go through the same sequence of edits a dbt team
makes: a first build, an unchanged rerun, a leaf edit, a macro edit, a seed edit (the shop's also
under an ephemeral model, and one whose file fails to load, then mended), a singular test (two parents) made to fail, (the shop) a leaf edit
behind it (skipped, as dbt build skips it), its severity lowered to warn, a var change, (the
ledger) a model that reads the clock, built again at a rerun, and (the shop) an on-run-end hook
that fails. After each step, through `clawdata dagster materialize --all`:
- the run's outcome and summary;
- exactly the nodes dbt's `state:modified+` (and the data they read) would build were rebuilt, the
  incremental models that must start over did, and nothing else;
- every table equals what a from-scratch `dbt build` of the edited project gives, and the replica
  serves the same;
- plain `dbt build` after the same edit, on its own warehouse, is run for comparison (its summary
  line is printed beside clawdata's).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from clawdata.cli.definitions_snapshot import CACHE_FILE
from clawdata.warehouse.replica import connect as replica_connect
from tests.conftest import make_project, run_cli
from tests.dbt_reference import PlainDbt, copy_project, edit, gold_nodes, tables

PROJECTS = Path(__file__).parent / "dbt_projects"
CLAWDATA_KEYS = ("raw_customers", "raw_orders", "raw_products", "slv_customers", "slv_orders", "slv_products",
                 "warehouse_replica")


@dataclass
class Step:
    name: str
    edits: list[tuple[str, str, str]]  # (file, old text, new text); old "" appends
    rebuilt: set[str]  # gold asset keys built (not reused) by the run
    restarted: set[str] = field(default_factory=set)  # incremental models that started over
    succeeds: bool = True
    checks: str = " 0 failed"  # in the summary line
    says: str = ""  # in the run's output
    hides: str = ""  # not in it
    status: dict[str, str] = field(default_factory=dict)  # asset -> what `status` says of it (both read paths)


LEDGER = [
    Step("first build", [], {"raw/accounts", "raw/transactions", "stg/stg_accounts", "stg/stg_transactions",
                             "snapshots/snap_accounts", "mart/fct_account_month", "mart/account_balances"}),
    Step("unchanged rerun", [], set()),
    Step("leaf edit", [("models/marts/account_balances.sql", "as active_months",
                        "as active_months,\n    max(months.month_start) as last_active_month")], {"mart/account_balances"}),
    Step("macro edit", [("macros/cents.sql", "* 100)", "* 1000)")],
         {"stg/stg_transactions", "mart/fct_account_month", "mart/account_balances"},
         restarted={"stg/stg_transactions", "mart/fct_account_month"}),
    Step("seed edit", [("seeds/transactions.csv", "", "121,2,2024-07-02,99.50,invoice\n122,5,2024-07-03,-12.25,refund\n")],
         # the seed starts over; the incremental models reading it take its new rows in, as dbt build does
         {"raw/transactions", "stg/stg_transactions", "mart/fct_account_month", "mart/account_balances"},
         restarted={"raw/transactions"}),
    Step("singular test (two parents) made to fail", [("tests/assert_months_add_up.sql", "<> transactions.total",
                                                       "<> transactions.total + 1")], set(), succeeds=False,
         checks=" 1 failed"),
    Step("its severity lowered to warn", [("tests/assert_months_add_up.sql", "", "{{ config(severity='warn') }}\n")],
         set(), checks="1 warned, 0 failed", says="! warn mart/fct_account_month:assert_months_add_up: 1 failing row"),
    Step("var change", [("dbt_project.yml", "report_currency: EUR", "report_currency: USD")],
         {"mart/fct_account_month", "mart/account_balances"}, restarted={"mart/fct_account_month"},
         checks="1 warned, 0 failed"),
    # A unit test's expectation edited (its model unchanged): dbt build runs it only with its model, so
    # the model is built with it; failing, it fails the run and dbt skips the model, as dbt build does.
    Step("a unit test edited to fail", [("models/marts/marts.yml", "balance_cents: 70,", "balance_cents: 71,")],
         set(), succeeds=False, checks="1 warned, 1 failed",
         # the file to open, and dbt's diff of the rows a row a line, lined up as dbt prints it (it was
         # "unit test x: failed" alone, then the diff flattened into one line)
         says="(models/marts/marts.yml): actual differs from expected:\n    @@,account_id,balance_cents,active_months\n    → ,1 ",
         status={"mart/account_balances": "not built: its unit test failed"}),
    Step("the unit test mended", [("models/marts/marts.yml", "balance_cents: 71,", "balance_cents: 70,")],
         {"mart/account_balances"}, checks="1 warned, 0 failed"),
    Step("a model that reads the clock", [("models/marts/account_age.sql", "",
                                           "select account_id, current_date - date '2024-01-01' as days_open\n"
                                           "from {{ ref('stg_accounts') }}\n")],
         # the warning is the last run's, not the test run again (it read as if it had been)
         {"mart/account_age"}, checks="1 warned, 0 failed",
         says="assert_months_add_up: 1 failing row (kept: not run again, its inputs unchanged)"),
    Step("a rerun reads the clock again, as dbt build does", [], {"mart/account_age"}, checks="1 warned, 0 failed"),
]

SHOP = [
    Step("first build", [], {"main/raw_customers", "main/raw_orders", "raw_payments", "raw_stores", "stg_customers",
                             "stg_orders", "stg_payments", "orders", "customers"}),
    Step("unchanged rerun", [], set()),
    Step("leaf edit", [("models/marts/customers.sql", "as number_of_orders,",
                        "as number_of_orders,\n    count(distinct orders.store_name) as stores_visited,")], {"customers"}),
    Step("macro edit", [("macros/payment_methods.sql", "'bank_transfer'", "'bank_transfer', 'gift_card'")],
         {"orders", "customers"}),
    Step("seed edit", [("seeds/raw_payments.csv", "", "999,7,coupon,450\n")],
         {"raw_payments", "stg_payments", "orders", "customers"}, restarted={"raw_payments"}),
    Step("seed edit read through an ephemeral model", [("seeds/raw_stores.csv", "", "4,Denver,2024-06-01\n")],
         {"raw_stores", "orders", "customers"}, restarted={"raw_stores"}),
    # A test of the ephemeral model (no asset of its own): a check on the seed it reads, run as dbt runs it.
    Step("a test of the ephemeral model made to fail", [("models/staging/stg_stores.yml", "data_tests: [not_null]",
                                                         "data_tests: [not_null, {accepted_values: {arguments: {values: ['x']}}}]")],
         set(), succeeds=False, checks=" 1 failed"),
    Step("and mended", [("models/staging/stg_stores.yml", "{accepted_values: {arguments: {values: ['x']}}}",
                         "{accepted_values: {arguments: {values: ['Philadelphia', 'Brooklyn', 'Chicago', 'Denver']}}}")],
         set()),
    # A seed whose new file does not load (one line ending in CRLF, the rest LF: DuckDB's reader refuses
    # it): the run fails naming it, and its last table stays, as with dbt build (not dropped, as
    # dbt's full refresh of a seed would), then the mended file loads.
    Step("a seed edit whose file fails to load", [("seeds/raw_payments.csv", "", "1000,8,coupon,30\r\n")],
         set(), succeeds=False, says="seed raw_payments (seeds/raw_payments.csv): Invalid Input Error: Error when sniffing file",
         hides="Quote/Escape Candidates",  # DuckDB's list of what it tried, after its error
         status={"raw_payments": "last build failure", "stg_payments": "not built: upstream failed",
                 "customers": "not built: upstream failed"}),
    Step("the seed's file mended", [("seeds/raw_payments.csv", "1000,8,coupon,30\r\n", "1000,8,coupon,30\n")],
         {"raw_payments", "stg_payments", "orders", "customers"}, restarted={"raw_payments"}),
    Step("singular test (two parents) made to fail", [("tests/assert_payments_match_orders.sql", "coalesce(paid.paid, 0)",
                                                       "coalesce(paid.paid, 0) + 1")], set(), succeeds=False,
         checks=" 1 failed"),
    Step("a leaf edit behind the test that still fails", [("models/marts/customers.sql", "as number_of_orders,",
                                                           "as number_of_orders,\n    count(*) as order_lines,")],
         set(), succeeds=False, checks=" 1 failed",  # dbt build skips customers behind it: so does clawdata
         status={"customers": "not built: behind a test that fails", "orders": "fresh"}),
    Step("its severity lowered to warn", [("tests/assert_payments_match_orders.sql", "", "{{ config(severity='warn') }}\n")],
         {"customers"}, checks="1 warned, 0 failed"),
    Step("var change", [("dbt_project.yml", "['completed', 'shipped']", "['completed', 'shipped', 'placed']")],
         {"customers"}, checks="1 warned, 0 failed"),
    Step("an on-run-end hook that fails", [("dbt_project.yml", "", "on-run-end:\n  - insert into main.no_such_table values (1)\n"),
                                            ("models/marts/customers.sql", "as stores_visited,",
                                             "as stores_visited,\n    max(orders.amount) as largest_order,")],
         {"customers"}, succeeds=False, checks="1 warned, 0 failed", says="hook shop-on-run-end-0: "),
]


def latest_run(home: Path, run_id: str) -> tuple[dict[str, dict], list[str]]:
    """A run's gold materializations (key -> metadata) and its log messages (the run `materialize`
    started first: a failed one is followed by the read path's publish)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        events = instance.all_logs(run_id)
    materialized = {e.dagster_event.asset_key.to_user_string(): {k: v.value for k, v in
                                                  e.dagster_event.event_specific_data.materialization.metadata.items()}
                    for e in events if e.dagster_event and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
                    and e.dagster_event.asset_key.to_user_string() not in CLAWDATA_KEYS}
    return materialized, [e.user_message for e in events if e.dagster_event is None]


@pytest.mark.parametrize("name, steps", [("ledger", LEDGER), ("shop", SHOP)])
def test_an_outside_project_edit_by_edit_beside_plain_dbt(name, steps, tmp_path):
    paths = make_project(tmp_path)
    ours = copy_project(PROJECTS / name, tmp_path / "ours")
    plain = PlainDbt(copy_project(PROJECTS / name, tmp_path / "theirs"), tmp_path / "plain")
    env = {**paths["env"], "CLAWDATA_DBT_PROJECT_DIR": str(ours)}
    report = []
    for step in steps:
        for file, old, new in step.edits:
            edit([ours, plain.project], file, old, new)
        done = run_cli(env, "dagster", "materialize", "--all")
        summary = next((line for line in done.stdout.splitlines() if line.startswith(("SUCCESS:", "FAILURE:"))), done.stderr)
        report.append(f"{name:7} {step.name:42} clawdata: {summary}\n{'':50} plain dbt build: {plain.build()}")
        print(report[-1])
        context = f"{name}, {step.name}:\n{done.stdout}\n{done.stderr}"
        assert (done.returncode == 0) == step.succeeds, context
        assert summary.startswith("SUCCESS" if step.succeeds else "FAILURE") and step.checks in summary, context
        assert step.says in done.stdout + done.stderr, context
        assert not step.hides or step.hides not in done.stdout + done.stderr, context

        for reads in ("records", "graphql") if step.status else ():
            if reads == "graphql":  # without the definitions' snapshot, status asks Dagster's GraphQL
                (paths["home"] / CACHE_FILE).unlink(missing_ok=True)
            shown = run_cli(env, "dagster", "status")
            rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 3}
            for asset, says in step.status.items():
                assert says in rows[asset], (reads, asset, shown.stdout)

        materialized, messages = latest_run(paths["home"], re.search(r"^run ([0-9a-f-]{36})", done.stdout, re.M).group(1))
        rebuilt = {key for key, metadata in materialized.items() if not metadata.get("reused")}
        assert rebuilt == step.rebuilt, context
        restarted = {key for key, metadata in materialized.items() if metadata.get("full_refresh") and key in rebuilt}
        assert restarted == (step.restarted if step.name != "first build" else set()), context
        if not step.rebuilt and step.name == "unchanged rerun":  # nothing changed: dbt does not even start
            assert any("build 0: none" in m and "tests to run 0" in m for m in messages), messages

        nodes = gold_nodes(ours)
        ours_tables = tables(paths["warehouse"], nodes)
        assert set(ours_tables) == set(nodes), context
        fresh = plain.fresh_tables(nodes)
        if not step.succeeds:  # dbt skips what is downstream of a failed test: compare what it built
            ours_tables = {k: v for k, v in ours_tables.items() if k in fresh}
        assert ours_tables == fresh, context
        if step.succeeds:
            replica = paths["warehouse"].parent / "replica" / paths["warehouse"].name
            with replica_connect(replica):  # a served file, whole
                pass
            assert tables(replica, nodes) == tables(paths["warehouse"], nodes), context
    (tmp_path.parent / f"outside-{name}.txt").write_text("\n".join(report) + "\n")
