"""Bad deliveries: each fails with a message naming the file (and line), or is accepted as
documented; either way the last good tables stay byte-for-byte as they were."""

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from clawdata.cli.local import describe_event
from clawdata.defs.ingest.assets import build_ingest_assets
from clawdata.sources.declarations import specs
from clawdata.warehouse.readers import read_only, table_checksum

HEADER = "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at"
ROW = "9001,Ada,Lovelace,ADA@Example.com,+44 20 1234,London,gb,2025-01-02,2026-11-01 10:00:00"

# name: (file name in the inbox, bytes, expected fragments of the failure message)
REJECTED = {
    "bad quoting": ("customers_q.csv", f'{HEADER}\n{ROW}\n9002,"Bob,Smith,b@x.org,,Paris,FR,2025-01-02,2026-11-01 10:00:00\n',
                    ["customers_q.csv line 3", "unterminated quote"]),
    "wrong column count": ("customers_c.csv", f"{HEADER}\n{ROW}\n{ROW},extra\n", ["customers_c.csv line 3", "Expected Number of Columns: 9 Found: 10"]),
    "wrong types": ("customers_t.csv", f"{HEADER}\n{ROW}\nnot-a-number,Bob,Smith,b@x.org,,Paris,FR,2025-01-02,2026-11-01 10:00:00\n",
                    ["customers_t.csv line 3", 'Could not convert string "not-a-number"']),
    # A quoted field over three lines before it: the line is the file's, not DuckDB's record count (4).
    "wrong type after a multi-line field": (
        "customers_n.csv", f'{HEADER}\n9004,"Ann\nMarie\nJo",Lee,a@x.org,,Oslo,NO,2025-01-02,2026-11-01 10:00:00\n'
                           f"{ROW}\nnot-a-number,Bob,Smith,b@x.org,,Paris,FR,2025-01-02,2026-11-01 10:00:00\n",
        ["customers_n.csv line 6", 'Could not convert string "not-a-number"']),
    # DuckDB rounds a fraction read into a whole number (9006.5 would be customer 9007): refused, by
    # the file's line (a quoted field over three lines before it).
    "a fraction in a whole-number key": (
        "customers_f.csv", f'{HEADER}\n9004,"Ann\nMarie\nJo",Lee,a@x.org,,Oslo,NO,2025-01-02,2026-11-01 10:00:00\n'
                           f"{ROW}\n9006.5,Bob,Smith,b@x.org,,Paris,FR,2025-01-02,2026-11-01 10:00:00\n",
        ["customers_f.csv line 6: column customer_id (declared BIGINT): 9006.5 would load as 9007"]),
    # DuckDB converts a line's fields before it counts them: a line cut short was said as a bad date.
    "a line cut short": ("customers_cut.csv", f"{HEADER}\n{ROW}\n9005,Bob,Smith,b@x.org,,Paris,FR,unknown\n",
                         ["customers_cut.csv line 3: 8 fields where the header has 9"]),
    "bad date": ("customers_d.csv", f"{HEADER}\n9003,Bob,Smith,b@x.org,,Paris,FR,2025-13-45,2026-11-01 10:00:00\n",
                 ["customers_d.csv line 2", "2025-13-45"]),
    "empty file": ("customers_e.csv", "", ["customers_e.csv: file is empty"]),
    # Every bad line in one run: each fix cost one more delivery, and one more run, to learn of the next.
    "several bad lines": ("customers_s.csv", f"{HEADER}\n{ROW}\n{ROW},extra\n9003,Bob,Smith,b@x.org,,Paris,FR,2025-13-45,2026-11-01 10:00:00\n"
                                             f"{ROW}\n",
                          ["customers_s.csv line 3: Expected Number of Columns: 9 Found: 10", "; 1 more bad line(s): line 4: ",
                           'Could not convert string "2025-13-45"']),
    # A quoted field over three lines before both: each bad line listed once, by the file's own number.
    "several bad lines after a multi-line field": (
        "customers_ns.csv", f'{HEADER}\n9004,"Ann\nMarie\nJo",Lee,a@x.org,,Oslo,NO,2025-01-02,2026-11-01 10:00:00\n'
                            f"{ROW}\nnot-a-number,Bob,Smith,b@x.org,,Paris,FR,2025-01-02,2026-11-01 10:00:00\n{ROW}\n{ROW},extra\n",
        # (a whole number's text is checked after the reader: the reader's error comes first)
        ["customers_ns.csv line 8: Expected Number of Columns: 9 Found: 10",
         '; 1 more bad line(s): line 6: column customer_id (declared BIGINT): Could not convert string "not-a-number"']),
    # A short line listed once (DuckDB rejects it once for each field it lacks: it was listed four
    # times, and counted so), and a rounded number by its own line with rejected lines above it.
    "several kinds of bad lines": (
        "customers_k.csv", f"{HEADER}\n{ROW}\n{ROW},extra\n9003,Bob,Smith,b@x.org,,Paris,FR,2025-13-45,2026-11-01 10:00:00\n"
                           f"9006.5,Bob,Smith,b@x.org,,Paris,FR,2025-01-02,2026-11-01 10:00:00\n9007,Al\n{ROW}\n",
        ["customers_k.csv line 3: Expected Number of Columns: 9 Found: 10", "; 3 more bad line(s): line 4: ",
         'Could not convert string "2025-13-45"', "; line 5: column customer_id (declared BIGINT): 9006.5 would load as 9007; "
         "line 6: Expected Number of Columns: 9 Found: 2"]),
    "duplicated header line": ("customers_h.csv", f"{HEADER}\n{ROW}\n{HEADER}\n",
                               ["customers_h.csv line 3: the header line again (files joined together with their headers?)"]),
    "missing column": ("customers_m.csv", HEADER.replace(",email", "") + "\n" + ROW.replace(",ADA@Example.com", "") + "\n",
                       ["customers_m.csv line 1", "missing column(s) email"]),
    "a column whose name changed case": ("customers_cc.csv", HEADER.replace(",city,", ",City,") + "\n" + ROW + "\n",
                                         ["customers_cc.csv line 1: missing column(s) city;", "(in another case: city is City in the file"]),
    "duplicated column": ("customers_u.csv", HEADER + ",city\n" + ROW + ",Paris\n", ["customers_u.csv line 1", "duplicated column(s) city"]),
    # DuckDB's names ignore case: the two were one column (a load failed inside DuckDB's struct_pack)
    "a column named twice in two cases": ("customers_uc.csv", HEADER + ",City\n" + ROW + ",Paris\n",
                                          ["customers_uc.csv line 1: duplicated column(s) City, city (names that differ only in case"]),
}


def _materialize(raise_on_error=False):
    return dg.materialize(
        build_ingest_assets(next(s for s in specs() if s.name == "customers")),
        resources={"duckdb": DuckDBResource(database=dg.EnvVar("CLAWDATA_WAREHOUSE_PATH"))},
        raise_on_error=raise_on_error,
    )


def _checksums(project):
    with read_only(project["warehouse"]) as conn:
        return {t: table_checksum(conn, t) for t in ("raw_customers", "slv_customers")}


def _failure_message(result) -> str:
    """The failure as the CLI shows it."""
    failures = [describe_event(e) for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run should have failed"
    return failures[0].detail


@pytest.fixture
def loaded(project):
    assert _materialize(raise_on_error=True).success
    return project, _checksums(project)


@pytest.mark.parametrize("case", REJECTED)
def test_rejected_input_names_file_and_line_and_keeps_tables(loaded, case):
    project, before = loaded
    name, content, fragments = REJECTED[case]
    (project["inbox"] / name).write_text(content)
    result = _materialize()
    assert not result.success
    message = _failure_message(result)
    for fragment in fragments:
        assert fragment in message, message
    assert _checksums(project) == before


def test_missing_file_fails_clearly_and_keeps_tables(loaded):
    project, before = loaded
    (project["sample"] / "sample_customers.csv").unlink()
    result = _materialize()
    assert not result.success
    message = _failure_message(result)
    assert "source customers: no file found (sample_customers.csv(.gz) in" in message and "customers*.csv(.gz) in" in message, message
    assert _checksums(project) == before


def test_byte_order_mark_is_stripped(loaded):
    project, _ = loaded
    (project["inbox"] / "customers_bom.csv").write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n{ROW}\n".encode())
    assert _materialize().success
    with read_only(project["warehouse"]) as conn:
        assert conn.execute("SELECT email FROM slv_customers WHERE customer_id = 9001").fetchone() == ("ada@example.com",)


def test_new_column_is_accepted_and_reported(loaded):
    project, _ = loaded
    (project["inbox"] / "customers_new.csv").write_text(f"{HEADER},loyalty_tier\n{ROW},gold\n")
    with dg.instance_for_test() as instance:
        result = dg.materialize(build_ingest_assets(next(s for s in specs() if s.name == "customers")), instance=instance,
                                resources={"duckdb": DuckDBResource(database=dg.EnvVar("CLAWDATA_WAREHOUSE_PATH"))})
        # said where a user reads it (the CLI prints a step's warnings), by the run that takes the file in
        warnings = [r.user_message for r in instance.all_logs(result.run_id) if "left out" in r.user_message]
    assert result.success
    materialization = next(
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("raw_customers")
    ).materialization
    assert materialization.metadata["ignored_columns"].value == ["customers_new.csv: loyalty_tier"]
    assert warnings == ["source customers: columns the declaration does not name, left out: loyalty_tier "
                        "(declare them in its YAML to keep them)"], warnings


def test_failed_audit_keeps_the_last_good_table(loaded):
    """A file that parses but breaks a rule (a customer without a last name) is rejected by the
    silver audit, after bronze accepted it: silver stays as it was."""
    project, before = loaded
    (project["inbox"] / "customers_nameless.csv").write_text(f"{HEADER}\n9004,Ann,,a@x.org,,Oslo,NO,2025-01-02,2026-11-01 10:00:00\n")
    result = _materialize()
    assert not result.success
    assert "slv_customers: audit failed, last good version kept: required_not_null (1 null values" in _failure_message(result)
    assert _checksums(project)["slv_customers"] == before["slv_customers"]
    # Its checks are recorded as they ran: the failed one failed (in the UI and the CLI's count), not skipped.
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()
              if e.asset_key == dg.AssetKey("slv_customers")}
    assert checks.pop("required_not_null") is False and checks and all(checks.values()), checks


def test_failed_step_releases_the_warehouse_file(loaded):
    """After a failed write, another process can open the file at once (the pool slot is free, so
    the lock must be too)."""
    import subprocess
    import sys

    project, _ = loaded
    (project["inbox"] / "customers_bad.csv").write_text(f"{HEADER}\n{ROW},extra\n")
    assert not _materialize().success
    opener = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(project['warehouse'])!r}).close()"],
        capture_output=True, text=True, timeout=60,
    )
    assert opener.returncode == 0, opener.stderr



def test_a_malformed_json_line_is_named_by_its_own_number(tmp_path):
    """DuckDB names the line after a malformed JSON line (`in line 3` for line 2 of a 2-line file):
    the line is found again, and shown."""
    import duckdb

    from clawdata.warehouse.files import explain_duckdb_error

    path = tmp_path / "reviews_2026-12-05.jsonl"
    path.write_text('{"id": 1, "title": "fine"}\n{"id": 2, "title": "unterminated, "rating": 3}\n')
    with pytest.raises(duckdb.Error) as raised:
        duckdb.sql(f"SELECT * FROM read_json('{path}', format = 'newline_delimited')").fetchall()
    message = str(explain_duckdb_error(path, raised.value))
    assert message.startswith(f"{path} line 2: malformed JSON") and "unterminated, " in message, message


def test_a_json_value_of_the_wrong_type_is_named_with_its_line(tmp_path):
    """DuckDB ends a JSON cast error with a hint ("line/object number information is approximate"):
    that hint was the whole message. The cause is kept, with DuckDB's line, said approximate if it is."""
    import duckdb

    from clawdata.warehouse.files import check_header, explain_duckdb_error, name_the_json_column, select_file_sql

    types = {"id": "BIGINT", "at": "TIMESTAMP"}
    good = '{"id": 1, "at": "2025-05-01T10:00:00"}\n'
    said = {}
    for name, bad in (("number", '{"id": "x90003", "at": "2025-05-01T10:00:00"}\n'), ("time", '{"id": 2, "at": "yesterday"}\n')):
        path = tmp_path / f"events_{name}.jsonl"
        path.write_text(good + bad)
        with pytest.raises(duckdb.Error) as raised:
            duckdb.sql(select_file_sql(check_header(path, types, "jsonl"), types)).fetchall()
        header = check_header(path, types, "jsonl")
        said[name] = str(name_the_json_column(header, types, explain_duckdb_error(path, raised.value, file_format="jsonl")))
    assert said["number"] == f'{tmp_path}/events_number.jsonl line 2: column id (declared BIGINT): Could not convert string "x90003" to BIGINT', said
    assert said["time"].startswith(f'{tmp_path}/events_time.jsonl line 1 (DuckDB\'s number, approximate): '
                                   'invalid timestamp field format: "yesterday"'), said


def test_a_header_line_again_is_refused_where_every_column_is_text(tmp_path):
    """Every column declared VARCHAR (what `source add` declares from a header alone): no cast refuses
    a header line repeated below (files joined with their headers), and it loaded as a row."""
    import duckdb

    from clawdata.warehouse.files import check_header, explain_duckdb_error, select_file_sql

    types = {"id": "VARCHAR", "name": "VARCHAR", "amount": "VARCHAR"}
    path = tmp_path / "hdr_2026-12-03.csv"
    path.write_text("id,name,amount\n20,a,1\nid,name,amount\n21,b,2\n")
    with pytest.raises(duckdb.Error) as raised:
        duckdb.sql(select_file_sql(check_header(path, types), types)).fetchall()
    assert str(explain_duckdb_error(path, raised.value)) == (
        f"{path} line 3: the header line again (files joined together with their headers?): remove it")
    path.write_text("id,name,amount\n20,a,1\nid,other,amount\n")  # (a row like it is a row)
    assert len(duckdb.sql(select_file_sql(check_header(path, types), types)).fetchall()) == 2


def test_a_json_cast_error_names_the_key_whose_value_fails_not_one_the_line_lacks(tmp_path):
    import duckdb

    from clawdata.warehouse.files import check_header, explain_duckdb_error, name_the_json_column, select_file_sql

    types = {"id": "BIGINT", "user": 'STRUCT("name" VARCHAR)', "amount": "DOUBLE"}
    path = tmp_path / "ev_2026-12-02.jsonl"
    path.write_text('{"id": 1, "user": {"name": "a"}, "amount": 2.5}\n{"id": 2, "amount": "oops"}\n')
    header = check_header(path, types, "jsonl")
    with pytest.raises(duckdb.Error) as raised:
        duckdb.sql(select_file_sql(header, types)).fetchall()
    said = str(name_the_json_column(header, types, explain_duckdb_error(path, raised.value, file_format="jsonl")))
    assert said.startswith(f"{path} line 2: column amount (declared DOUBLE): "), said


def test_a_delivery_the_runs_user_cannot_read_says_how_to_make_it_readable(tmp_path, monkeypatch):
    """`docker compose cp` of a mode-600 file makes it root's alone in the inbox volume: the run (uid
    1000) failed with a bare PermissionError. (Root reads every file, so the denial is simulated.)"""
    import os as os_module

    from clawdata.warehouse import files

    path = tmp_path / "customers_2026-12-05.csv"
    path.write_text(f"{HEADER}\n{ROW}\n")
    monkeypatch.setattr(files.os, "access", lambda p, mode: not (str(p) == str(path) and mode == os_module.R_OK))
    with pytest.raises(files.BadInputFile, match=r"not readable by the user runs run as \(uid \d+\): make it readable \(chmod a\+r\)"):
        files.check_header(path, {"customer_id": "BIGINT"})


def test_a_date_the_declared_format_cannot_read_names_that_format(tmp_path):
    """DuckDB names the type alone (`Could not convert string "2026-06-07" to 'DATE'`): an ISO date is
    a good date, so the source's own `date_format` is what the reader needs to see."""
    import duckdb

    from clawdata.sources.loads import _with_declared_format
    from clawdata.sources.spec import FileSourceSpec
    from clawdata.warehouse.files import check_header, explain_duckdb_error, select_file_sql

    spec = FileSourceSpec.model_validate({"name": "sales", "key": ["id"], "columns": {"id": "BIGINT", "sold": "DATE"},
                                          "date_format": "%m/%d/%Y"})
    path = tmp_path / "sales_1.csv"
    path.write_text("id,sold\n1,03/12/2026\n2,2026-06-07\n")
    with pytest.raises(duckdb.Error) as raised:
        duckdb.sql(select_file_sql(check_header(path, spec.types), spec.types, date_format=spec.date_format)).fetchall()
    said = str(_with_declared_format(explain_duckdb_error(path, raised.value), spec))
    assert said.startswith(f"{path} line 3: ") and "2026-06-07" in said, said
    assert said.endswith("; the source reads dates as '%m/%d/%Y' (its date_format)"), said
