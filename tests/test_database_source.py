"""A table of a real PostgreSQL server as a declared source (issue: bring your own data, databases),
loaded by dlt into bronze and merged into silver, in-process on a real instance: the first load, rows
inserted and updated reaching silver on the next run, the password nowhere in what is written or
logged, and a wrong password, a missing table and a column type change failing in one line with
nothing changed. And a SQLite file, which needs no server and has no password."""

import os
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_duckdb import DuckDBResource

from clawdata.defs.ingest.assets import build_ingest_assets
from clawdata.settings import FULL_REFRESH_TAG
from clawdata.sources.database import DatabaseSourceSpec
from clawdata.warehouse.readers import read_only
from tests import postgres

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def server():
    problem = postgres.available()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)
    with postgres.postgres_server() as (host, port):
        postgres.psql(host, port, "app", """
            CREATE SCHEMA crm;
            CREATE TABLE crm.accounts (account_id integer PRIMARY KEY, name text, plan text, mrr numeric(12, 2),
                                       updated_at timestamp NOT NULL);
            INSERT INTO crm.accounts SELECT g, 'account ' || g, CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'basic' END,
                   g * 10.5, timestamp '2026-11-01' + g * interval '1 minute' FROM generate_series(1, 500) g;""")
        yield host, port


def spec(host, port, **overrides) -> DatabaseSourceSpec:
    return DatabaseSourceSpec.model_validate({
        "name": "accounts", "url": f"postgresql://{postgres.USER}@{host}:{port}/app", "table": "crm.accounts",
        "key": ["account_id"], "cursor": "updated_at", "order_by": "updated_at",
        "columns": {"account_id": "INTEGER", "name": {"type": "VARCHAR", "trim": True}, "plan": "VARCHAR",
                    "mrr": "DECIMAL(12,2)", "updated_at": "TIMESTAMP"},
        "source_types": {"account_id": "INTEGER", "name": "TEXT", "plan": "TEXT", "mrr": "NUMERIC(12, 2)",
                         "updated_at": "TIMESTAMP"},
        **overrides})


@pytest.fixture(scope="module")
def loaded(server, tmp_path_factory):
    """Three runs: the first load, then 20 rows updated and 5 inserted, then nothing new; then a row
    updated at the last cursor value, and nothing new again."""
    host, port = server
    tmp = tmp_path_factory.mktemp("db")
    warehouse = tmp / "warehouse.duckdb"
    assets = build_ingest_assets(spec(host, port), "defs/sources/accounts/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(warehouse))}
    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
        mp.setenv("CLAWDATA_SOURCE_ACCOUNTS_PASSWORD", postgres.PASSWORD)
        mp.delenv("PGPASSWORD", raising=False)

        def run(**kwargs):
            return dg.materialize(assets, instance=instance, resources=resources, raise_on_error=False, **kwargs)

        first = run()
        postgres.psql(host, port, "app", """
            UPDATE crm.accounts SET plan = 'enterprise', updated_at = timestamp '2026-12-01' WHERE account_id <= 20;
            INSERT INTO crm.accounts SELECT g, '  spaced ' || g || '  ', 'basic', 1, timestamp '2026-12-02'
              FROM generate_series(501, 505) g;""")
        second, third = run(), run()
        # A row updated without its cursor moving: 501's updated_at stays the last value taken.
        postgres.psql(host, port, "app", "UPDATE crm.accounts SET plan = 'pro' WHERE account_id = 501;")
        tie = (run(), run())
        yield {"runs": (first, second, third), "tie": tie, "warehouse": warehouse, "instance": instance, "run": run,
               "tmp": tmp, "server": server, "assets": assets, "resources": resources}


def metadata(result, key: str) -> dict:
    event = next(m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(key))
    return {k: v.value for k, v in event.materialization.metadata.items()}


def data_version(result, key: str) -> str:
    event = next(m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(key))
    return event.materialization.tags["dagster/data_version"]


def declared_from(name: str, url: str, table: str, key: list[str], cursor: str | None = None) -> DatabaseSourceSpec:
    """What `clawdata source add` declares from the table."""
    from clawdata.sources.database import declare

    return DatabaseSourceSpec.model_validate(yaml.safe_load(declare(name, url, table, key, cursor)[0])["attributes"])


def load_once(declared: DatabaseSourceSpec, warehouse: Path):
    """One run of the source's bronze and silver on a fresh instance."""
    with dg.instance_for_test() as instance:
        return dg.materialize(build_ingest_assets(declared, "defs.yaml"), instance=instance, raise_on_error=False,
                              resources={"duckdb": DuckDBResource(database=str(warehouse))})


def silver(warehouse):
    with read_only(warehouse) as conn:
        return conn.execute("SELECT count(*), count(*) FILTER (WHERE plan = 'enterprise'), "
                            "max(name) FILTER (WHERE account_id = 503) FROM silver.slv_accounts").fetchone()


def test_first_load_then_only_what_moved(loaded):
    first, second, third = loaded["runs"]
    assert first.success and second.success and third.success
    assert metadata(first, "raw_accounts")["rows_read"] == 500 and metadata(first, "raw_accounts")["full_load"]
    assert metadata(second, "raw_accounts")["rows_read"] == 25 and not metadata(second, "raw_accounts")["full_load"]
    assert metadata(second, "slv_accounts")["incremental"]
    assert metadata(third, "raw_accounts")["rows_read"] == 0
    assert metadata(third, "slv_accounts")["reused"]  # nothing new: silver and what reads it are kept
    assert silver(loaded["warehouse"]) == (505, 20, "spaced 503")  # cleaned as declared


def test_a_row_updated_at_the_last_cursor_value_is_taken_and_only_it(loaded):
    """dlt reads the rows at the last cursor value again and drops those it took already: compared on
    every column read, so an update that left the cursor alone is taken (by the table's primary key,
    dlt's default, it was dropped) and the unchanged rows at that value are not read twice."""
    tie, after = loaded["tie"]
    assert metadata(tie, "raw_accounts")["rows_read"] == 1, metadata(tie, "raw_accounts")
    assert metadata(after, "raw_accounts")["rows_read"] == 0 and metadata(after, "slv_accounts")["reused"]
    with read_only(loaded["warehouse"]) as conn:
        assert conn.execute("SELECT plan FROM silver.slv_accounts WHERE account_id = 501").fetchone() == ("pro",)


def test_the_password_is_in_no_file_and_no_log(loaded):
    secret = postgres.PASSWORD.encode()
    for path in loaded["tmp"].rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    instance = loaded["instance"]
    for result in loaded["runs"]:
        for record in instance.all_logs(result.run_id):
            assert postgres.PASSWORD not in str(record), record
    for path in Path(instance.root_directory).rglob("*"):  # runs, events, captured stdout/stderr
        if path.is_file():
            assert secret not in path.read_bytes(), path


def test_a_full_refresh_reloads_the_table_in_full(loaded):
    before = silver(loaded["warehouse"])
    result = loaded["run"](tags={FULL_REFRESH_TAG: "true"})
    assert result.success and metadata(result, "raw_accounts")["rows_read"] == 505
    assert silver(loaded["warehouse"]) == before


@pytest.mark.parametrize("case, change, expected", [
    ("wrong password", {"env": "not-the-password"}, "password authentication failed"),
    ("missing table", {"table": "crm.no_such_table"}, "the table does not exist"),
    ("table named without its schema", {"table": "accounts"}, "does not exist in the connection's default schema (it was named without one): if it is in another, name it SCHEMA.TABLE"),
    ("column renamed", {"columns": {"account_id": "INTEGER", "name": "VARCHAR", "plan": "VARCHAR", "mrr": "DECIMAL(12,2)",
                                    "updated_at": "TIMESTAMP", "tier": "VARCHAR"}},
     "column(s) tier are gone from the table (renamed or dropped: update the declaration's columns and source_types"),
    ("type change", {"source_types": {"mrr": "TEXT"}}, "column type changed in the database: mrr from TEXT to NUMERIC(12, 2)"),
])
def test_a_bad_load_fails_in_one_line_and_keeps_the_tables(loaded, case, change, expected, monkeypatch):
    host, port = loaded["server"]
    before = silver(loaded["warehouse"])
    overrides = {k: v for k, v in change.items() if k != "env"}
    if "source_types" in overrides:
        overrides["source_types"] = {**spec(host, port).source_types, **overrides["source_types"]}
    assets = build_ingest_assets(spec(host, port, **overrides))
    monkeypatch.setenv("CLAWDATA_SOURCE_ACCOUNTS_PASSWORD", change.get("env", postgres.PASSWORD))
    result = dg.materialize(assets, instance=loaded["instance"], resources=loaded["resources"], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.user_failure_data.description
    assert message.startswith("source accounts") and expected in message and len(message.splitlines()) == 1, message
    assert postgres.PASSWORD not in message
    assert silver(loaded["warehouse"]) == before


def test_a_table_named_as_applications_name_theirs_loads_and_follows_its_enum(server, tmp_path, monkeypatch):
    """Quoted mixed-case names (dlt's extract has them in snake_case), an enum that gains a label
    (PostgreSQL shows it as VARCHAR of its longest label), an interval (dlt cannot load it: left out
    by `source add`, and not extracted), a row whose cursor is NULL (read at every load), a NUMERIC
    without precision holding 15 decimals (DOUBLE; dlt's DECIMAL(38,9) refused it), a domain over
    an integer and a bytea (declared and loaded as text, where they are an INTEGER and a BLOB)."""
    import yaml

    from clawdata.sources.database import declare

    host, port = server
    postgres.psql(host, port, "app", """
        CREATE TYPE crm.tier AS ENUM ('free', 'paid');
        CREATE DOMAIN crm.pos_qty AS integer CHECK (VALUE > 0);
        CREATE TABLE crm."Customers" ("CustomerID" integer PRIMARY KEY, "Full Name" text, tier crm.tier,
                                      "createdAt" timestamp, session_len interval, balance numeric, net__amount integer,
                                      attrs jsonb, "seenAt" timestamptz, qty crm.pos_qty, thumb bytea);
        INSERT INTO crm."Customers" SELECT g, 'customer ' || g, 'free', timestamp '2026-11-01' + g * interval '1 hour',
               interval '5 minutes', g + 0.123456789012345, g,
               CASE WHEN g = 1 THEN '{}' WHEN g = 2 THEN '{"deep": {"x": 1}}' ELSE '{"tier": "silver"}' END::jsonb,
               timestamptz '1999-12-31 23:59:59+05:30', g, decode('c51ce4' || lpad(to_hex(g), 2, '0'), 'hex')
               FROM generate_series(1, 10) g;
        INSERT INTO crm."Customers" VALUES (11, 'no cursor', 'paid', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);""")
    monkeypatch.setenv("CLAWDATA_SOURCE_CUSTOMERS_PASSWORD", postgres.PASSWORD)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    text, summary = declare("customers", f"postgresql://{postgres.USER}@{host}:{port}/app", "crm.Customers",
                            ["CustomerID"], "createdAt")
    assert "left out: session_len (INTERVAL)" in summary, summary
    assert "materialize --all" in summary and "the replica" in summary, summary
    spec = DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"])
    assert "session_len" not in spec.columns
    # a timestamptz is an instant (SQLAlchemy renders it TIMESTAMP: it was declared a naive time)
    assert spec.types["seenAt"] == "TIMESTAMPTZ" and spec.types["attrs"] == "JSON", spec.types
    assert (spec.types["qty"], spec.types["thumb"]) == ("INTEGER", "BLOB"), spec.types  # the domain's own type
    assets = build_ingest_assets(spec, "defs/sources/customers/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))}
    with dg.instance_for_test() as instance:
        first = dg.materialize(assets, instance=instance, resources=resources, raise_on_error=False)
        assert first.success, [e.message for e in first.all_events if e.is_failure]
        postgres.psql(host, port, "app", "ALTER TYPE crm.tier ADD VALUE 'enterprise'")
        postgres.psql(host, port, "app", """UPDATE crm."Customers" SET tier = 'enterprise', "createdAt" = timestamp '2026-12-01'
                                             WHERE "CustomerID" = 3""")
        second = dg.materialize(assets, instance=instance, resources=resources, raise_on_error=False)
        assert second.success, [e.message for e in second.all_events if e.is_failure]
        assert metadata(second, "raw_customers")["rows_read"] == 2  # the updated row, and the one without a cursor
        again = dg.materialize(assets, instance=instance, resources=resources, raise_on_error=False)
        assert again.success and metadata(again, "raw_customers")["rows_read"] == 1  # read again, as it was:
        assert data_version(again, "slv_customers") == data_version(second, "slv_customers")  # silver kept, gold too
        full = dg.materialize(assets, instance=instance, resources=resources, raise_on_error=False,
                              tags={FULL_REFRESH_TAG: "true"})  # dlt's side starts over too
        assert full.success and metadata(full, "raw_customers")["rows_read"] == 11
    with read_only(tmp_path / "warehouse.duckdb") as conn:
        assert conn.execute('SELECT count(*), max(tier) FILTER (WHERE "CustomerID" = 3), max("Full Name") FILTER '
                            '(WHERE "CustomerID" = 3) FROM silver.slv_customers').fetchone() == (11, "enterprise", "customer 3")
        # the database's own conversion, exact (through Arrow's cast of a Decimal: 2.1234567890123452)
        assert conn.execute('SELECT balance FROM silver.slv_customers WHERE "CustomerID" = 2').fetchone()[0] == 2.123456789012345
        assert conn.execute('SELECT sum(net__amount), sum(qty) FROM silver.slv_customers').fetchone() == (55, 55)
        assert conn.execute('SELECT thumb FROM silver.slv_customers WHERE "CustomerID" = 2').fetchone()[0] == b"\xc5\x1c\xe4\x02"
        # JSON as the database stores it, after a full load too: Arrow read a batch of objects as one
        # struct, and `{}` came out with the other rows' keys as nulls, 1 as 1.0
        assert conn.execute('SELECT list(attrs::VARCHAR ORDER BY "CustomerID") FROM silver.slv_customers WHERE '
                            '"CustomerID" <= 3').fetchone()[0] == ['{}', '{"deep": {"x": 1}}', '{"tier": "silver"}']
        assert conn.execute("""SELECT epoch("seenAt") FROM silver.slv_customers WHERE "CustomerID" = 1""").fetchone()[0] == \
            946664999  # 1999-12-31 18:29:59 UTC


def test_source_add_refuses_a_key_that_is_not_unique_in_the_table(server, monkeypatch):
    from clawdata.sources.database import InspectionError, declare

    host, port = server
    monkeypatch.setenv("CLAWDATA_SOURCE_ACCOUNTS_PASSWORD", postgres.PASSWORD)
    with pytest.raises(InspectionError, match=r"the key \(plan\) is not unique in table crm.accounts: basic \(\d+ rows\)"):
        declare("accounts", f"postgresql://{postgres.USER}@{host}:{port}/app", "crm.accounts", ["plan"], None)


def test_a_sqlite_file_declares_without_a_password_and_loads_what_moved(tmp_path):
    """A database that is a file (SQLite: no server, no password): `source add` says nothing of a
    password, the first load takes the table, the next only the rows whose cursor moved."""
    import sqlite3

    from clawdata.sources.database import declare

    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT, balance NUMERIC, updated_at TIMESTAMP)")
        db.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)",
                       [(1, "Ann", 10.5, "2024-01-01 10:00:00"), (2, "Bob", None, "2024-01-02 11:00:00")])
    text, summary = declare("accounts", f"sqlite:///{app}", "accounts", ["id"], "updated_at")
    assert "password" not in (text + summary).lower(), text + summary
    declared = DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"])
    assert declared.types == {"id": "INTEGER", "name": "VARCHAR", "balance": "DOUBLE", "updated_at": "TIMESTAMP"}

    warehouse = tmp_path / "warehouse.duckdb"
    assets = build_ingest_assets(declared, "defs/sources/accounts/defs.yaml")
    with dg.instance_for_test() as instance:
        first = dg.materialize(assets, instance=instance, resources={"duckdb": DuckDBResource(database=str(warehouse))})
        with sqlite3.connect(app) as db:
            db.execute("UPDATE accounts SET name = 'Bobby', updated_at = '2024-02-01 00:00:00' WHERE id = 2")
            db.execute("INSERT INTO accounts VALUES (3, 'Cy', 1, '2024-02-02 00:00:00')")
        second = dg.materialize(assets, instance=instance, resources={"duckdb": DuckDBResource(database=str(warehouse))})
    assert metadata(first, "raw_accounts")["rows_read"] == 2 and metadata(second, "raw_accounts")["rows_read"] == 2
    with read_only(warehouse) as conn:
        rows = conn.execute("SELECT id, name, balance FROM silver.slv_accounts ORDER BY id").fetchall()
    assert rows == [(1, "Ann", 10.5), (2, "Bobby", None), (3, "Cy", 1.0)]


def test_a_table_empty_at_its_first_load_gives_empty_tables_then_its_rows(tmp_path):
    """An empty table (a new application's) loads as empty bronze and silver, with the declared
    types; its first rows then come as to any table. Once bronze held rows, a full load that reads
    none (the wrong database, a table emptied) is refused and the rows stay."""
    import sqlite3

    from clawdata.sources.database import declare

    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT, updated_at TIMESTAMP)")
    text, _ = declare("accounts", f"sqlite:///{app}", "accounts", ["id"], "updated_at")
    assets = build_ingest_assets(DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"]), "defs.yaml")
    warehouse = tmp_path / "warehouse.duckdb"

    def run(**tags) -> tuple[bool, list]:
        with dg.instance_for_test() as instance:
            result = dg.materialize(assets, instance=instance, raise_on_error=False, tags=tags or None,
                                    resources={"duckdb": DuckDBResource(database=str(warehouse))})
        with read_only(warehouse) as conn:
            return result.success, conn.execute("SELECT id, name, updated_at FROM silver.slv_accounts").fetchall()

    assert run() == (True, [])
    with read_only(warehouse) as conn:
        types = conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'raw_accounts' ORDER BY ordinal_position").fetchall()
    assert types[:5] == [("id", "INTEGER"), ("name", "VARCHAR"), ("updated_at", "TIMESTAMP"), ("_source_file", "VARCHAR"),
                         ("_file_rank", "VARCHAR")], types
    with sqlite3.connect(app) as db:
        db.execute("INSERT INTO accounts VALUES (1, 'Ann', '2024-01-01 10:00:00')")
    ok, rows = run()
    assert ok and [r[:2] for r in rows] == [(1, "Ann")]
    with sqlite3.connect(app) as db:
        db.execute("DELETE FROM accounts")
    assert run(**{FULL_REFRESH_TAG: "true"}) == (False, rows)


def test_a_wide_numeric_loads_as_its_exact_text(server, tmp_path, monkeypatch):
    """A NUMERIC of more digits than DuckDB's DECIMAL (38) holds: declared VARCHAR, read as the
    database's text of it, every digit kept (dlt's DECIMAL(50,5) was refused by every table)."""
    host, port = server
    postgres.psql(host, port, "app", """
        CREATE TABLE crm.ledger (id integer PRIMARY KEY, amount numeric(50, 5), small numeric(10), ratio double precision);
        INSERT INTO crm.ledger VALUES (1, 123456789012345678901234567890123456789012345.12345, 42, 0.1),
                                      (2, 1.5, NULL, 10.5);""")
    monkeypatch.setenv("CLAWDATA_SOURCE_LEDGER_PASSWORD", postgres.PASSWORD)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    declared = declared_from("ledger", f"postgresql://{postgres.USER}@{host}:{port}/app", "crm.ledger", ["id"])
    # (a double precision is 53 bits, not digits: a DOUBLE, read as one, not as text)
    assert declared.types == {"id": "INTEGER", "amount": "VARCHAR", "small": "DECIMAL(10,0)", "ratio": "DOUBLE"}, declared.types
    warehouse = tmp_path / "warehouse.duckdb"
    result = load_once(declared, warehouse)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    with read_only(warehouse) as conn:
        assert conn.execute("SELECT amount, small, ratio FROM silver.slv_ledger ORDER BY id").fetchall() == [
            ("123456789012345678901234567890123456789012345.12345", 42, 0.1), ("1.50000", None, 10.5)]
        assert conn.execute("SELECT typeof(ratio) FROM bronze.raw_ledger LIMIT 1").fetchone()[0] == "DOUBLE"


def test_a_table_whose_key_repeats_within_a_load_is_refused_and_a_dlt_column_left_out(tmp_path):
    """A table has no row order: two rows of one load with one key would leave silver's row to chance
    (it changed between two loads of the same table). The load is refused, naming a key, and the last
    good tables stay; a column named as dlt's own is left out by `source add`, not overwritten."""
    import sqlite3

    from clawdata.sources.database import InspectionError, declare

    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE accounts (id INTEGER, label TEXT, _dlt_load_id TEXT)")
        db.executemany("INSERT INTO accounts VALUES (?, ?, ?)", [(1, "first", "x"), (2, "first", "y")])
    text, summary = declare("accounts", f"sqlite:///{app}", "accounts", ["id"], None)
    assert "left out: _dlt_load_id" in summary, summary
    with pytest.raises(InspectionError, match="_dlt_load_id of table accounts cannot be the key or cursor"):
        declare("accounts", f"sqlite:///{app}", "accounts", ["_dlt_load_id"], None)
    declared = DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"])
    assert list(declared.columns) == ["id", "label"]
    assets = build_ingest_assets(declared, "defs.yaml")
    warehouse = tmp_path / "warehouse.duckdb"

    def run():
        with dg.instance_for_test() as instance:
            result = dg.materialize(assets, instance=instance, raise_on_error=False, tags={FULL_REFRESH_TAG: "true"},
                                    resources={"duckdb": DuckDBResource(database=str(warehouse))})
            warned.extend(r.user_message for r in instance.all_logs(result.run_id) if "the declaration does not name" in r.user_message)
        with read_only(warehouse) as conn:
            rows = conn.execute("SELECT id, label FROM silver.slv_accounts ORDER BY id").fetchall()
        failures = [e.event_specific_data.user_failure_data.description for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE"]
        return result.success, rows, failures

    warned = []

    assert run() == (True, [(1, "first"), (2, "first")], [])
    with sqlite3.connect(app) as db:
        db.execute("ALTER TABLE accounts ADD COLUMN region TEXT")  # a column added since: said, not loaded
    assert run() == (True, [(1, "first"), (2, "first")], []) and "not loaded: region" in warned[0], warned
    with sqlite3.connect(app) as db:
        db.execute("INSERT INTO accounts VALUES (1, 'second', 'z', 'eu')")
    ok, rows, failures = run()
    assert not ok and rows == [(1, "first"), (2, "first")]
    assert "1 keys with more than one row in one load" in failures[0] and "(the first: id 1)" in failures[0], failures


def test_a_url_whose_driver_is_not_installed_says_which_and_what_is(monkeypatch):
    from clawdata.sources.database import InspectionError, declare

    with pytest.raises(InspectionError, match=r"driver this URL needs is not installed \(no module 'MySQLdb'\).*"
                                              r"PostgreSQL \(postgresql://\) and SQLite"):
        declare("shop", "mysql://app@127.0.0.1:3306/shop", "orders", ["id"], None)


def test_a_missing_password_names_the_variable_it_is_read_from(server, monkeypatch):
    host, port = server
    monkeypatch.delenv("CLAWDATA_SOURCE_ACCOUNTS_PASSWORD", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    from clawdata.sources.database import InspectionError, inspect_table

    with pytest.raises(InspectionError, match=r"no password in \$CLAWDATA_SOURCE_ACCOUNTS_PASSWORD"):
        inspect_table(spec(host, port))


def test_infinite_times_stay_infinite_and_a_date_before_year_1_is_refused(server, tmp_path, monkeypatch):
    """PostgreSQL's 'infinity' and '-infinity' (an open-ended validity) load as DuckDB's, where the
    driver had made them 9999-12-31 23:59:59.999999 and 0001-01-01 without a word; a time with its
    zone is the same instant whatever the server's TimeZone; the cursor, a timestamp too, still
    follows what moved, and a run says when it is ahead of the clock. A BC date fails the load naming
    its column, and the tables stay."""
    from clawdata.sources.database import declare

    host, port = server
    postgres.psql(host, port, "app", """
        CREATE TABLE crm.contracts (id integer PRIMARY KEY, valid_from timestamptz, valid_to timestamp, ends date,
                                    updated_at timestamp NOT NULL);
        ALTER DATABASE app SET timezone TO 'Asia/Tokyo';
        INSERT INTO crm.contracts VALUES (1, '-infinity', 'infinity', 'infinity', '2026-12-01'),
                                         (2, '2024-01-01 10:00+02', '2024-06-01 08:30:00.25', '2024-06-01', '2026-12-01');""")
    monkeypatch.setenv("CLAWDATA_SOURCE_CONTRACTS_PASSWORD", postgres.PASSWORD)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    text, _ = declare("contracts", f"postgresql://{postgres.USER}@{host}:{port}/app", "crm.contracts", ["id"], "updated_at")
    declared = DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"])
    warehouse = tmp_path / "warehouse.duckdb"
    query = "SELECT id, valid_from::VARCHAR, valid_to::VARCHAR, ends::VARCHAR FROM silver.slv_contracts ORDER BY id"
    with dg.instance_for_test() as instance:
        def run():
            return dg.materialize(build_ingest_assets(declared, "defs.yaml"), instance=instance, raise_on_error=False,
                                  resources={"duckdb": DuckDBResource(database=str(warehouse))})

        first = run()
        assert first.success, [e.message for e in first.all_events if e.is_failure]
        with read_only(warehouse) as conn:
            assert conn.execute(query).fetchall() == [
                (1, "-infinity", "infinity", "infinity"),
                (2, "2024-01-01 08:00:00+00", "2024-06-01 08:30:00.25", "2024-06-01")]
        postgres.psql(host, port, "app", """
            UPDATE crm.contracts SET valid_to = '2026-12-31', ends = '2026-12-31', updated_at = '2026-12-02' WHERE id = 1;""")
        assert run().success
        with read_only(warehouse) as conn:
            assert conn.execute(query).fetchall()[0] == (1, "-infinity", "2026-12-31 00:00:00", "2026-12-31")
        # A cursor at 'infinity' (or any time ahead of the clock): loads read only rows at or past it from
        # now on, which a run says.
        postgres.psql(host, port, "app", "UPDATE crm.contracts SET updated_at = 'infinity' WHERE id = 2;")
        ahead = run()
        assert ahead.success
        said = [entry.user_message for entry in instance.all_logs(ahead.run_id) if "ahead of the clock" in entry.user_message]
        assert said and "cursor updated_at reached 9999-12-31 23:59:59.999999" in said[0] \
            and "materialize raw_contracts --full-refresh" in said[0], said
        postgres.psql(host, port, "app", """
            INSERT INTO crm.contracts VALUES (3, '2024-01-01', '0044-03-15 10:00:00 BC', '2024-01-01', 'infinity');""")
        failed = run()
    postgres.psql(host, port, "app", "ALTER DATABASE app RESET timezone;")
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    said = failure.event_specific_data.user_failure_data.description
    assert said.startswith("source contracts (table crm.contracts): ") and "before year 1: 0044-03-15 10:00:00 BC" in said \
        and "valid_to" in said and len(said.splitlines()) == 1, said
    with read_only(warehouse) as conn:
        assert [row[0] for row in conn.execute(query).fetchall()] == [1, 2]


def failure_of(result) -> str:
    return next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.user_failure_data.description


def test_a_sqlite_row_updated_at_the_last_cursor_value_is_taken(tmp_path):
    """SQLite compares times as text: dlt's last cursor value was written '2026-02-06 09:00:00.000000',
    after the stored '2026-02-06 09:00:00', so the rows at it were not read again and an update that
    left the cursor alone was lost."""
    import sqlite3

    from clawdata.sources.database import declare

    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, modified DATETIME)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(1, "new", "2026-02-05 09:00:00"), (2, "new", "2026-02-06 09:00:00")])
    text, _ = declare("orders", f"sqlite:///{app}", "orders", ["id"], "modified")
    assets = build_ingest_assets(DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"]), "defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))}
    with dg.instance_for_test() as instance:
        first = dg.materialize(assets, instance=instance, resources=resources)
        with sqlite3.connect(app) as db:
            db.execute("UPDATE orders SET status = 'shipped' WHERE id = 2")
        tie = dg.materialize(assets, instance=instance, resources=resources)
    assert metadata(first, "raw_orders")["rows_read"] == 2
    assert metadata(tie, "raw_orders")["rows_read"] == 1, metadata(tie, "raw_orders")
    with read_only(tmp_path / "warehouse.duckdb") as conn:
        assert conn.execute("SELECT id, status FROM silver.slv_orders ORDER BY id").fetchall() == [(1, "new"), (2, "shipped")]


def test_a_sqlite_number_its_declared_decimal_would_round_is_refused_and_one_declared_double_is_not_rounded(tmp_path):
    """SQLite keeps 123.456 in a NUMERIC(10,2) column: it loaded as 123.46 without a word. Declared
    DOUBLE after a first load, it still did: the full load kept dlt's extract table, DECIMAL(10,2)."""
    import sqlite3

    from clawdata.sources.database import declare

    app, warehouse = tmp_path / "crm.db", tmp_path / "warehouse.duckdb"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, credit NUMERIC(10,2), updated_at TIMESTAMP)")
        db.executemany("INSERT INTO customers VALUES (?, ?, ?)", [(1, 10.5, "2026-01-01 00:00:00"), (2, 7.89, "2026-01-01 00:00:00")])
    attributes = yaml.safe_load(declare("crm", f"sqlite:///{app}", "customers", ["id"], "updated_at")[0])["attributes"]
    assert attributes["columns"]["credit"] == "DECIMAL(10,2)"

    def load(columns: dict) -> tuple[bool, list, list]:
        declared = DatabaseSourceSpec.model_validate({**attributes, "columns": {**attributes["columns"], **columns}})
        result = load_once(declared, warehouse)
        with read_only(warehouse) as conn:
            rows = conn.execute("SELECT id, credit FROM bronze.raw_crm ORDER BY id").fetchall()
        return result.success, rows, [failure_of(result)] if not result.success else []

    assert load({}) == (True, [(1, Decimal("10.50")), (2, Decimal("7.89"))], [])
    with sqlite3.connect(app) as db:
        db.execute("UPDATE customers SET credit = 7.891, updated_at = '2026-02-01 00:00:00' WHERE id = 2")
    ok, rows, said = load({})
    assert not ok and rows == [(1, Decimal("10.50")), (2, Decimal("7.89"))], rows  # the last good table
    assert "(table customers): column credit (declared DECIMAL(10,2)): 7.891 would load as 7.89" in said[0], said
    assert load({"credit": "DOUBLE"})[:2] == (True, [(1, 10.5), (2, 7.891)])
    with sqlite3.connect(app) as db:
        db.execute("UPDATE customers SET credit = 123.456, updated_at = '2026-03-01 00:00:00' WHERE id = 1")
    assert load({"credit": "DOUBLE"})[:2] == (True, [(1, 123.456), (2, 7.891)])


def test_a_sqlite_url_naming_no_file_is_refused_and_creates_none(tmp_path):
    """SQLite creates a missing file at the first connection: a mistyped path was 'the table does not
    exist', and left an empty file there, at `source add` and at a load alike."""
    from clawdata.sources.database import InspectionError, declare

    typo = tmp_path / "typo.db"
    with pytest.raises(InspectionError, match=f"no such database file {typo}$"):
        declare("accounts", f"sqlite:///{typo}", "accounts", ["id"], None)
    declared = DatabaseSourceSpec.model_validate({"name": "accounts", "url": f"sqlite:///{typo}", "table": "accounts",
                                                  "key": ["id"], "columns": {"id": "INTEGER"}})
    with dg.instance_for_test() as instance:
        result = dg.materialize(build_ingest_assets(declared, "defs.yaml"), instance=instance, raise_on_error=False,
                                resources={"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))})
    assert not result.success and f"no such database file {typo}" in failure_of(result), failure_of(result)
    assert not typo.exists()


def test_columns_one_to_dlt_are_told_at_source_add_and_before_the_extract(tmp_path):
    """"CustomerID" and "customer_id" are one column after dlt's snake_case naming: `source add` leaves
    one out (the key kept) and says so; a declaration naming both fails its load naming them, before
    dlt extracts (its own message came after, truncated)."""
    import sqlite3

    from clawdata.sources.database import InspectionError, declare

    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute('CREATE TABLE customers ("CustomerID" INTEGER, customer_id INTEGER PRIMARY KEY, name TEXT)')
        db.execute("INSERT INTO customers VALUES (10, 1, 'Ann')")
    text, summary = declare("customers", f"sqlite:///{app}", "customers", ["customer_id"], None)
    assert "left out: CustomerID: one column to dlt with customer_id" in summary, summary
    declared = DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"])
    assert list(declared.columns) == ["customer_id", "name"]
    with pytest.raises(InspectionError, match="customer_id and CustomerID of table customers are one column to dlt"):
        declare("customers", f"sqlite:///{app}", "customers", ["customer_id", "CustomerID"], None)

    both = declared.model_copy(update={"columns": {"CustomerID": "INTEGER", **declared.columns}})
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))}
    with dg.instance_for_test() as instance:
        loaded = dg.materialize(build_ingest_assets(declared, "defs.yaml"), instance=instance, resources=resources)
        refused = dg.materialize(build_ingest_assets(both, "defs.yaml"), instance=instance, resources=resources,
                                 raise_on_error=False, tags={FULL_REFRESH_TAG: "true"})
    assert metadata(loaded, "raw_customers")["rows_read"] == 1
    said = failure_of(refused)
    assert "columns CustomerID, customer_id are one column to dlt (customer_id)" in said and "Arrow" not in said, said


def test_a_numeric_nan_fails_saying_how_to_load_it_and_loads_declared_double(server, tmp_path, monkeypatch):
    """PostgreSQL's NUMERIC holds 'NaN', which no DECIMAL does: the load failed with Arrow's words
    naming no column, and declaring the column DOUBLE did not help (dlt was told the database's type)."""
    from clawdata.sources.database import declare

    host, port = server
    postgres.psql(host, port, "app", """
        CREATE TABLE crm.readings (id integer PRIMARY KEY, amount numeric(10, 2));
        INSERT INTO crm.readings VALUES (1, 12.5), (2, 'NaN');""")
    monkeypatch.setenv("CLAWDATA_SOURCE_READINGS_PASSWORD", postgres.PASSWORD)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    text, _ = declare("readings", f"postgresql://{postgres.USER}@{host}:{port}/app", "crm.readings", ["id"], None)
    declared = DatabaseSourceSpec.model_validate(yaml.safe_load(text)["attributes"])
    assert declared.types["amount"] == "DECIMAL(10,2)"
    warehouse = tmp_path / "warehouse.duckdb"
    with dg.instance_for_test() as instance:
        def run(spec):
            return dg.materialize(build_ingest_assets(spec, "defs.yaml"), instance=instance, raise_on_error=False,
                                  resources={"duckdb": DuckDBResource(database=str(warehouse))})

        failed = run(declared)
        assert not failed.success
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        said = failure.event_specific_data.user_failure_data.description
        assert "such as 'NaN': declare amount DOUBLE to load it" in said, said
        as_double = declared.model_copy(update={"columns": {**declared.columns, "amount": "DOUBLE"}})
        assert run(as_double).success
    with read_only(warehouse) as conn:
        assert conn.execute("SELECT id, amount::VARCHAR FROM silver.slv_readings ORDER BY id").fetchall() == [(1, "12.5"), (2, "nan")]


def test_a_sqlite_column_of_no_type_loads_as_its_text(tmp_path):
    """SQLite's column with no type holds any value: dlt let Arrow guess its type from the first rows,
    and a later text value failed the load naming no column. It is read as its text, as declared."""
    import sqlite3

    app = tmp_path / "app.db"
    with sqlite3.connect(app) as db:
        db.execute("CREATE TABLE loose (id INTEGER PRIMARY KEY, v)")
        db.executemany("INSERT INTO loose VALUES (?, ?)", [(1, 1), (2, "two"), (3, 3.5), (4, None)])
    declared = declared_from("loose", f"sqlite:///{app}", "loose", ["id"])
    assert declared.types["v"] == "VARCHAR"
    warehouse = tmp_path / "warehouse.duckdb"
    result = load_once(declared, warehouse)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    with read_only(warehouse) as conn:
        assert conn.execute("SELECT id, v FROM silver.slv_loose ORDER BY id").fetchall() == [(1, "1"), (2, "two"), (3, "3.5"), (4, None)]
