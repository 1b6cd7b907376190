"""Declared sources (issue: bring your own data): a source in each format, `clawdata source add` on
dirty files, and bad declarations refused naming their file.

The format tests run the assets a FileSource component builds (defs/ingest/assets.py) in-process:
a key of three columns, a null marker in a numeric column, no ordering column (the latest delivery
wins), two deliveries, a redelivery, then --full-refresh, which must give the same tables."""

import gzip
import io
import json
import logging
import os
import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster_duckdb import DuckDBResource

from clawdata.cli.errors import ClawdataError
from clawdata.defs.ingest.assets import build_ingest_assets
from clawdata.settings import FULL_REFRESH_TAG
from clawdata.sources import declarations
from clawdata.sources.audits import silver_audits
from clawdata.sources.spec import FileSourceSpec
from clawdata.warehouse import files, ledger
from clawdata.warehouse.files import check_header, select_file_sql
from clawdata.warehouse.readers import read_only

HEADER = ["site", "day", "visitor", "pages", "note"]
VISITS = {
    "name": "visits", "description": "Page visits per site, day and visitor.",
    "key": ["site", "day", "visitor"], "null_markers": ["", "NA"],
    "columns": {"site": {"type": "VARCHAR", "trim": True, "case": "lower"}, "day": "DATE", "visitor": "BIGINT",
                "pages": "BIGINT", "note": {"type": "VARCHAR", "trim": True}},
    "checks": {"ranges": {"pages": {"min": 0}}},
}
FIRST = [["EU ", "2026-11-01", 1, 3, "a"], ["eu", "2026-11-01", 2, "NA", None], ["us", "2026-11-02", 1, 7, "b"]]
SECOND = [["eu", "2026-11-01", 1, 4, "again"], ["us", "2026-11-03", 5, 1, None]]  # key 1 again: this delivery wins
FIRST_REDELIVERED = [["EU", "2026-11-01", 2, 9, "fixed"], ["us", "2026-11-02", 1, 7, "b"]]  # (eu,11-01,1) withdrawn


def write(path: Path, rows: list[list], file_format: str) -> Path:
    """A delivery in `file_format` ("csv;": separated by semicolons; "….gz": gzipped), written by
    DuckDB from CSV text (NA stays a string in CSV)."""
    if file_format.endswith(".gz"):
        plain = write(path, rows, file_format.removesuffix(".gz"))
        gzipped = plain.with_name(plain.name + ".gz")
        gzipped.write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
        return gzipped
    csv_path, sep = path.with_suffix(".csv"), ";" if file_format == "csv;" else ","
    csv_path.write_text(sep.join(HEADER) + "\n" + "".join(sep.join("" if v is None else str(v) for v in r) + "\n" for r in rows))
    if file_format.startswith("csv"):
        return csv_path
    with duckdb.connect() as conn:
        relation = (f"read_csv('{csv_path}', header = true, nullstr = ['', 'NA'], "
                    "columns = {'site': 'VARCHAR', 'day': 'DATE', 'visitor': 'BIGINT', 'pages': 'BIGINT', 'note': 'VARCHAR'})")
        target = path.with_suffix(".parquet" if file_format == "parquet" else ".jsonl")
        options = "(FORMAT parquet)" if file_format == "parquet" else "(FORMAT json)"
        conn.execute(f"COPY (SELECT * FROM {relation}) TO '{target}' {options}")
    csv_path.unlink()
    return target


def expected(deliveries: list[list[list]]) -> dict[tuple, tuple]:
    """The latest delivery of each key wins (files in name order), cleaned as declared."""
    rows = {}
    for delivery in deliveries:
        for site, day, visitor, pages, note in delivery:
            rows[(site.strip().lower(), day, visitor)] = (None if pages in ("NA", None) else pages, note)
    return rows


@pytest.mark.parametrize("file_format", ["csv", "csv;", "parquet", "jsonl", "csv.gz", "jsonl.gz"])
def test_a_declared_source_in_each_format_merges_deliveries_like_a_full_refresh(file_format, tmp_path, monkeypatch):
    # (gzipped deliveries are found by the default patterns, `visits*.csv.gz` beside `visits*.csv`)
    sample, inbox, warehouse = tmp_path / "sample", tmp_path / "inbox", tmp_path / "warehouse.duckdb"
    sample.mkdir(), inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(sample))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    separated = {"format": "csv", "delimiter": ";"} if file_format == "csv;" else {"format": file_format.removesuffix(".gz")}
    spec = FileSourceSpec.model_validate({**VISITS, **separated})
    assets = build_ingest_assets(spec, "defs/sources/visits/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(warehouse))}

    with dg.instance_for_test() as instance:
        def run(full: bool = False) -> dg.ExecuteInProcessResult:
            result = dg.materialize(assets, instance=instance, resources=resources,
                                    tags={FULL_REFRESH_TAG: "true"} if full else None)
            assert result.success
            return result

        def silver() -> dict[tuple, tuple]:
            with read_only(warehouse) as conn:
                return {(s, str(d), v): (p, n) for s, d, v, p, n in
                        conn.execute("SELECT site, day, visitor, pages, note FROM silver.slv_visits").fetchall()}

        write(inbox / "visits_1", FIRST, file_format)
        run()
        assert silver() == expected([FIRST])
        write(inbox / "visits_2", SECOND, file_format)
        second = run()
        assert silver() == expected([FIRST, SECOND])
        merged = next(m for m in second.get_asset_materialization_events() if m.asset_key == dg.AssetKey("slv_visits"))
        # Its key `site` is cleaned in silver (trim, lower): silver is built whole, not merged by bronze's keys.
        assert not merged.materialization.metadata["incremental"].value
        write(inbox / "visits_1", FIRST_REDELIVERED, file_format)  # same name, new content: a redelivery
        run()
        assert silver() == expected([FIRST_REDELIVERED, SECOND])

        with read_only(warehouse) as conn:
            def tables():
                return {t: conn.execute(f"SELECT count(*), md5(string_agg(CAST(x AS VARCHAR), ';' ORDER BY CAST(x AS VARCHAR))) "
                                        f"FROM (SELECT * {exclude} FROM {t}) AS x").fetchone()
                        for t, exclude in (("bronze.raw_visits", "EXCLUDE (_loaded_at)"), ("silver.slv_visits", ""))}
            merged_tables = tables()
        run(full=True)
        with read_only(warehouse) as conn:
            assert tables() == merged_tables
            types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                      "WHERE table_schema = 'silver' AND table_name = 'slv_visits'").fetchall())
        assert types["pages"] == "BIGINT" and types["day"] == "DATE"  # NA did not make the column text


def test_deliveries_in_dated_folders_and_a_correction_copied_with_its_old_time_are_taken_in(tmp_path, monkeypatch):
    """A folder per day (`2026-12-02/visits.csv`): the later folder wins, though the file names are the
    same. A correction of the same size copied over a delivery with its old modification time (`cp -p`,
    `rsync -t`, an archive) is a change, not a reuse. Both as a full refresh builds them."""
    sample, inbox, warehouse = tmp_path / "sample", tmp_path / "inbox", tmp_path / "warehouse.duckdb"
    sample.mkdir(), inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(sample))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    spec = FileSourceSpec.model_validate({**VISITS, "format": "csv", "files": {"inbox": ["2026-*/visits*.csv"]}})
    assets = build_ingest_assets(spec, "defs/sources/visits/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(warehouse))}

    def pages() -> dict[int, int]:
        with read_only(warehouse) as conn:
            return dict(conn.execute("SELECT visitor, pages FROM silver.slv_visits WHERE site = 'eu'").fetchall())

    with dg.instance_for_test() as instance:
        def run(full: bool = False) -> list[str]:  # its warnings
            result = dg.materialize(assets, instance=instance, resources=resources,
                                    tags={FULL_REFRESH_TAG: "true"} if full else None)
            assert result.success
            return [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]

        for day in ("2026-12-01", "2026-12-02"):
            (inbox / day).mkdir()
        # The 12-02 folder's row for visitor 1 is its file's first: the older file's last row must not win.
        write(inbox / "2026-12-01" / "visits", [["eu", "2026-11-01", 2, 5, None], ["eu", "2026-11-01", 1, 3, None]], "csv")
        run()
        write(inbox / "2026-12-02" / "visits", [["eu", "2026-11-01", 1, 4, None]], "csv")
        run()
        assert pages() == {1: 4, 2: 5}

        delivered = inbox / "2026-12-02" / "visits.csv"
        correction = tmp_path / "corrected.csv"
        correction.write_text(delivered.read_text().replace(",4,", ",8,"))
        os.utime(correction, ns=(delivered.stat().st_atime_ns, delivered.stat().st_mtime_ns))
        shutil.copy2(correction, delivered)  # same size, same modification time: only its inode changed
        assert not run()  # (a re-delivery keeps its place: no warning)
        assert pages() == {1: 8, 2: 5}
        run(full=True)
        assert pages() == {1: 8, 2: 5}

        # A delivery whose path ranks before an earlier one's loses to it: said by the run that takes it in.
        (inbox / "2026-11-30").mkdir()
        write(inbox / "2026-11-30" / "visits", [["eu", "2026-11-01", 1, 9, None]], "csv")
        warned = [w for w in run() if "delivered now, ranks before" in w]
        assert pages() == {1: 8, 2: 5}
        assert len(warned) == 1 and "2026-11-30/visits.csv, delivered now, ranks before 2026-12-02/visits.csv, delivered earlier" in warned[0], warned
        assert not [w for w in run() if "ranks before" in w]  # once


@pytest.fixture
def defs_dir(tmp_path, monkeypatch):
    """Declarations written to a folder of this test's, not the checkout's defs/."""
    root = tmp_path / "defs"
    monkeypatch.setattr(declarations, "DEFS_DIR", root)
    monkeypatch.setattr(declarations, "SOURCES_DIR", root / "sources")
    return root


def add(name, path, key, *extra, **options):
    from clawdata.cli.sources import add as source_add

    return source_add(name, str(path), key, options.get("order_by"), list(extra), None, None, False)


def test_source_add_infers_types_and_reads_na_as_null(defs_dir, tmp_path):
    dirty = tmp_path / "shop_export.csv"
    dirty.write_text("order_ref,store,amount,when,status\nA1,1,10.50,2026-11-01 10:00:00,open\n"
                     "A2,2,NA,2026-11-02 11:00:00,N/A\nA3,1,7,2026-11-02 12:30:00,closed\n")
    written = add("shop_orders", dirty, ["order_ref", "store"])
    declared = declarations.read(written)
    assert declared.spec.types == {"order_ref": "VARCHAR", "store": "BIGINT", "amount": "DOUBLE",
                                   "when": "TIMESTAMP", "status": "VARCHAR"}
    assert "NA" in declared.spec.null_markers and declared.spec.key == ["order_ref", "store"]
    assert yaml.safe_load(written.read_text())["type"] == "clawdata.components.FileSource"


def test_source_add_declares_the_separators_of_a_semicolon_file_and_a_comma_reading_says_so(defs_dir, tmp_path):
    export = tmp_path / "clients.csv"
    export.write_text("Client ID;Nom complet;Solde\n1;Ada, Lovelace;10,5\n2;Alan Turing;3\n")
    declared = declarations.read(add("clients", export, ["Client ID"])).spec
    assert declared.delimiter == ";" and declared.types["Client ID"] == "BIGINT", declared
    # Its numbers are written 10,5: a decimal comma, declared, and read as the numbers they are.
    assert declared.decimal_separator == "," and declared.types["Solde"] == "DOUBLE", declared
    header = check_header(export, declared.types, "csv", declared.delimiter, declared.decimal_separator)
    assert header.columns == ["Client ID", "Nom complet", "Solde"]
    with duckdb.connect() as conn:
        assert conn.execute(f"SELECT sum(Solde) FROM ({select_file_sql(header, declared.types)})").fetchone() == (13.5,)
    with pytest.raises(files.BadInputFile, match="set the source's `delimiter`"):
        check_header(export, declared.types, "csv")


def test_source_add_declares_a_gzipped_export_and_a_broken_one_is_named(defs_dir, tmp_path):
    export = tmp_path / "payments.csv.gz"
    export.write_bytes(gzip.compress(b"id;amount\n1;12,50\n2;7\n"))
    declared = declarations.read(add("payments", export, ["id"])).spec
    # (both spellings: a later delivery may come gzipped or not)
    assert declared.files.inbox == ["payments*.csv", "payments*.csv.gz"] and declared.decimal_separator == ",", declared
    header = check_header(export, declared.types, "csv", declared.delimiter, declared.decimal_separator)
    with duckdb.connect() as conn:
        assert conn.execute(f"SELECT sum(amount) FROM ({select_file_sql(header, declared.types)})").fetchone() == (19.5,)
    broken = tmp_path / "payments_2.csv.gz"
    broken.write_bytes(b"id;amount\n3;1\n")  # named .gz, not gzipped
    with pytest.raises(files.BadInputFile, match="payments_2.csv.gz: not a readable gzip file"):
        check_header(broken, declared.types, "csv", declared.delimiter)
    parquet = tmp_path / "x.parquet.gz"  # Parquet compresses inside: a gzipped one is not read
    parquet.write_bytes(gzip.compress(b"x"))
    with pytest.raises(ClawdataError, match=r"unknown format '.parquet.gz'"):
        add("payments_pq", parquet, ["id"])


def test_source_add_reads_dates_the_sniffer_leaves_as_text(defs_dir, tmp_path):
    """Month names ("Jan 1 2000", as in public exports) become DATE with their format, and a load reads
    them; two columns in two such formats stay text (a source has one date format)."""
    prices = tmp_path / "prices.csv"
    prices.write_text("symbol,date,price\nMSFT,Jan 1 2000,39.81\nMSFT,Feb 29 2004,36.35\nIBM,Dec 1 2009,NA\n")
    spec = declarations.read(add("prices", prices, ["symbol", "date"])).spec
    assert spec.types["date"] == "DATE" and spec.date_format == "%b %d %Y"
    with duckdb.connect() as conn:  # the declaration reads the file as the load does
        read = select_file_sql(check_header(prices, spec.types, "csv"), spec.types, spec.null_markers,
                               date_format=spec.date_format)
        assert conn.execute(f"SELECT max(date) FROM ({read})").fetchone()[0] == date(2009, 12, 1)

    two = tmp_path / "two_formats.csv"  # a source has one date_format: two formats stay text
    two.write_text("id,opened,closed\n1,Jan 1 2000,1 Feb 2026\n2,Mar 3 2001,3 Apr 2026\n")
    spec = declarations.read(add("two_formats", two, ["id"])).spec
    assert spec.types["opened"] == spec.types["closed"] == "VARCHAR" and spec.date_format is None


def test_source_add_does_not_guess_day_or_month_first_where_the_file_does_not_say(tmp_path):
    """03/04/2024 is 3 April or 4 March: DuckDB's sniffer picked day first without a word, and a US
    export would have had every date swapped. No day above 12 in any value: VARCHAR, with a note; one
    value that tells (25/06/2024), or a year first (ISO), and the date is declared as read."""
    from clawdata.sources.infer import infer

    cases = {"03/04/2024\n05/06/2024\n11/12/2024": ("VARCHAR", None), "03/04/2024\n25/06/2024": ("DATE", "%d/%m/%Y"),
             "04-03-2024\n06-05-2024": ("VARCHAR", None), "2024-03-04\n2024-05-06": ("DATE", None)}
    for values, (wanted, fmt) in cases.items():
        path = tmp_path / "dates.csv"
        path.write_text("id,d,t\n" + "".join(f"{i},{v},{v} 10:00:00\n" for i, v in enumerate(values.split("\n"))))
        inferred = infer("dates", path, ["id"])
        assert inferred.spec.types["d"] == wanted and inferred.spec.types["t"] == wanted.replace("DATE", "TIMESTAMP"), (values, inferred)
        assert fmt is None or inferred.spec.date_format == fmt, (values, inferred.spec)
        if wanted == "VARCHAR":
            assert any(n.startswith("d: every value reads as") and "no day above 12" in n for n in inferred.notes), inferred.notes


def test_source_add_refuses_a_duplicate_key_naming_the_rows(defs_dir, tmp_path):
    dirty = tmp_path / "dup.csv"
    dirty.write_text("id,name\n1,a\n2,b\n1,c\n3,d\n3,e\n")
    with pytest.raises(ClawdataError) as refused:
        add("dup", dirty, ["id"])
    assert "id=1 on lines 2, 4" in str(refused.value) and "id=3 on lines 5, 6" in str(refused.value)
    assert not (defs_dir / "sources" / "dup").exists()


def test_source_add_takes_a_header_only_file_with_a_note(defs_dir, tmp_path, monkeypatch):
    from clawdata.cli import progress

    printed = io.StringIO()
    monkeypatch.setattr(progress.console, "file", printed)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,name,amount\n")
    written = add("empty", empty, ["id"])
    assert set(declarations.read(written).spec.types.values()) == {"VARCHAR"}
    assert "no rows" in printed.getvalue()


def test_source_add_on_a_missing_file_is_one_clear_error(defs_dir, tmp_path):
    with pytest.raises(ClawdataError, match="no such file"):
        add("ghost", tmp_path / "ghost.csv", ["id"])
    with pytest.raises(ClawdataError, match="is a folder: name one file of the export"):
        add("ghost", tmp_path, ["id"])


def test_source_add_suggests_a_copy_that_runs_and_a_name_the_patterns_take():
    from clawdata.cli.sources import _copy_command

    spaced = _copy_command(Path("/exports/My Export.csv"), Path("/in"), "myexport", ["myexport*.csv"])
    assert spaced == "cp '/exports/My Export.csv' '/in/myexport_My Export.csv'", spaced
    own = _copy_command(Path("/exports/items_d1.csv"), Path("/in"), "items", ["items*.csv", "items*.csv.gz"])
    assert own == "cp /exports/items_d1.csv /in/items_d1.csv", own  # not items_items_d1.csv


def test_a_bad_declaration_is_refused_naming_its_file(tmp_path):
    bad = tmp_path / "defs" / "sources" / "visits" / "defs.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text(yaml.safe_dump({"type": declarations.FILE_SOURCE,
                                   "attributes": {**VISITS, "key": ["site", "hour"]}}))
    with pytest.raises(declarations.DeclarationError) as refused:
        declarations.all_sources(tmp_path / "defs")
    assert str(bad) in str(refused.value) and "hour" in str(refused.value)
    twice = tmp_path / "defs" / "sources" / "visits_again" / "defs.yaml"
    twice.parent.mkdir(parents=True)
    twice.write_text(json.dumps({"type": declarations.FILE_SOURCE, "attributes": VISITS}))
    bad.write_text(yaml.safe_dump({"type": declarations.FILE_SOURCE, "attributes": VISITS}))
    with pytest.raises(declarations.DeclarationError, match="declared twice"):
        declarations.all_sources(tmp_path / "defs")
    # A misspelt type, at load: not at the first file's read, where DuckDB's "did you mean" blamed the file
    twice.unlink()
    bad.write_text(yaml.safe_dump({"type": declarations.FILE_SOURCE,
                                   "attributes": {**VISITS, "columns": {**VISITS["columns"], "visitor": "INTEGR"}}}))
    with pytest.raises(declarations.DeclarationError) as refused:
        declarations.all_sources(tmp_path / "defs")
    assert str(bad) in str(refused.value) and "column visitor: type 'INTEGR' is not a DuckDB type" in str(refused.value)
    assert "did you mean INTEGER" in str(refused.value), refused.value
    bad.write_text(yaml.safe_dump({"type": "clawdata.components.FileSrc", "attributes": VISITS}))
    with pytest.raises(declarations.DeclarationError) as refused:
        declarations.all_sources(tmp_path / "defs")
    assert str(refused.value) == f"{bad}: type clawdata.components.FileSrc is not a clawdata component; did you mean {declarations.FILE_SOURCE}?"


def test_the_type_names_taken_without_asking_duckdb_are_duckdbs():
    """spec._PLAIN_TYPE spares a DuckDB connection at every load: each of its names, with parameters and
    as a list, must be a type of the installed DuckDB (an upgrade that drops one fails here)."""
    from clawdata.sources import spec as spec_module

    names = re.search(r"\(\((BIGINT\|.*?)\)", spec_module._PLAIN_TYPE.pattern).group(1).split("|") + ["VARCHAR", "DECIMAL", "NUMERIC"]
    assert len(names) > 20
    assert not spec_module._PLAIN_TYPE.fullmatch("DATE(5)") and not spec_module._PLAIN_TYPE.fullmatch("INTEGR")
    with duckdb.connect() as conn:
        for name in names:
            shapes = [name, f"{name}[]"] + ([f"{name}(12,2)", f"{name}(12, 2)[]"] if name in ("DECIMAL", "NUMERIC") else []) \
                + ([f"{name}(10)"] if name == "VARCHAR" else [])
            for shape in shapes:
                assert spec_module._PLAIN_TYPE.fullmatch(shape), shape
                conn.execute(f"SELECT CAST(NULL AS {shape})")  # raises if DuckDB does not know it


def test_the_merge_row_count_audit_counts_the_merged_keys_of_bronze_alone():
    """row_count_sane on a merge: one merged row per merged key found in bronze (a three-column key),
    whatever else bronze holds; a merged key without its row fails, naming the counts."""
    spec = FileSourceSpec.model_validate({**VISITS, "format": "csv"})
    audit = next(a for a in silver_audits(spec) if a.name == "row_count_sane")
    with duckdb.connect() as conn:
        conn.execute("CREATE SCHEMA bronze")
        conn.execute(f"CREATE TABLE {spec.bronze} (site VARCHAR, day DATE, visitor BIGINT)")
        conn.execute(f"INSERT INTO {spec.bronze} VALUES ('eu', '2026-11-01', 1), ('eu', '2026-11-01', 1), "
                     "('eu', '2026-11-01', 2), ('us', '2026-11-02', 1), (NULL, '2026-11-02', 1)")
        conn.execute("CREATE TABLE merged_keys AS SELECT * FROM (VALUES ('eu', DATE '2026-11-01', 1), "
                     "('us', DATE '2026-11-02', 1)) AS k(site, day, visitor)")
        conn.execute("CREATE TABLE merged AS SELECT * FROM merged_keys")
        assert audit.run(conn, "merged", "merged_keys").passed  # bronze's duplicate and its other keys do not count
        conn.execute("DELETE FROM merged WHERE site = 'us'")
        result = audit.run(conn, "merged", "merged_keys")
        assert not result.passed and result.observed == "1 merged rows for 2 merged keys in bronze"


def test_columns_named_as_exports_name_them_give_valid_checks_that_run():
    """Spaces, accents, quotes and brackets in a key or a checked column (source add takes them from
    a file's header): every audit gets a name Dagster accepts, and its SQL runs, passing and failing."""
    from clawdata.sources.audits import raw_audits

    columns = {"Numéro Client": "BIGINT", "Statut d'envoi": "VARCHAR", "Solde (€)": "DOUBLE", "Solde": "DOUBLE",
               "Prix {HT}": "VARCHAR"}
    spec = FileSourceSpec.model_validate({
        "name": "clients", "format": "csv", "key": "Numéro Client", "columns": columns,
        "checks": {"accepted_values": {"Statut d'envoi": ["envoyé", "reçu"], "Prix {HT}": ["{a}", "b"]},
                   "ranges": {"Solde (€)": {"min": 0}, "Solde": {"max": 100}}}})
    audits = raw_audits(spec) + silver_audits(spec)
    names = [a.name for a in audits]
    assert "Numero_Client_not_null" in names and "Numero_Client_unique" in names, names
    assert "Statut_d_envoi_accepted_values" in names and "Prix_HT_accepted_values" in names, names
    ranges = sorted(n for n in names if n.startswith("Solde_in_range"))  # "Solde" and "Solde (€)": two checks
    silver_names = [a.name for a in silver_audits(spec)]
    assert len(ranges) == 2 and len(set(silver_names)) == len(silver_names), silver_names
    for name in names:
        dg.AssetCheckSpec(name, asset="slv_clients")  # raises on a name Dagster refuses
    with duckdb.connect() as conn:
        ledger.ensure(conn)  # as every load does before its audits (rows_present reads which files bronze took)
        conn.execute("CREATE SCHEMA bronze")
        conn.execute(f'CREATE TABLE {spec.bronze} ("Numéro Client" BIGINT, "Statut d\'envoi" VARCHAR, "Solde (€)" DOUBLE, '
                     '"Solde" DOUBLE, "Prix {HT}" VARCHAR, _source_file VARCHAR, _row BIGINT)')
        conn.execute(f"INSERT INTO {spec.bronze} VALUES (1, 'envoyé', 10, 1, '{{a}}', '/in/clients_1.csv', 1), "
                     "(2, 'reçu', 0, 2, 'b', '/in/clients_1.csv', 2)")
        conn.execute(f"CREATE TABLE staged AS SELECT * FROM {spec.bronze}")
        assert all(a.run(conn, "staged").passed for a in audits)
        conn.execute("INSERT INTO staged VALUES (NULL, 'perdu', -1, 1000, 'c', '/in/clients_2.csv', 7), "
                     "(4, 'perdu', -1, 1000, 'c', '/in/clients_2.csv', 8), (3, 'perdu', -2, 1000, 'd', '/in/clients_2.csv', 9)")
        failed = {a.name: a.run(conn, "staged").observed for a in audits if not a.run(conn, "staged").passed}
        assert failed["Numero_Client_not_null"] == "1 row without Numéro Client (the first: clients_2.csv row 7)", failed
        # (a failing row is named by its key, the smallest, and its value)
        assert failed["Statut_d_envoi_accepted_values"] == "3 rows with another Statut d'envoi (the first: Numéro Client 3, Statut d'envoi perdu)", failed
        assert failed["Prix_HT_accepted_values"] == "3 rows with another Prix {HT} (the first: Numéro Client 3, Prix {HT} d)", failed
        assert sorted(failed[n] for n in ranges) == ["3 rows out of range (the first: Numéro Client 3, Solde (€) -2.0)",
                                                     "3 rows out of range (the first: Numéro Client 3, Solde 1000.0)"], failed


def test_a_bad_value_in_parquet_or_json_lines_is_named_with_its_column_not_a_hint_or_a_caret(tmp_path):
    """DuckDB ends these errors with the query and a caret line (Parquet), or a hint (JSON): the
    one-line error keeps the cause, and names the column (DuckDB's JSON error names the value alone)."""
    parquet, jsonl = tmp_path / "items.parquet", tmp_path / "orders.jsonl"
    with duckdb.connect() as conn:
        conn.execute(f"COPY (SELECT 1 AS id, 'not a number' AS price) TO '{parquet}' (FORMAT parquet)")
    jsonl.write_text('{"id": 1, "line_no": 1}\n{"id": 2, "line_no": "two"}\n')
    for path, fmt, types in ((parquet, "parquet", {"id": "BIGINT", "price": "DECIMAL(12,2)"}),
                             (jsonl, "jsonl", {"id": "BIGINT", "line_no": "INTEGER"})):
        header = check_header(path, types, fmt)
        with duckdb.connect() as conn, pytest.raises(duckdb.Error) as raised:
            conn.execute(select_file_sql(header, types)).fetchall()
        said = files.explain_duckdb_error(path, raised.value)
        message = str(files.name_the_json_column(header, types, said))
        assert message.startswith(str(path)) and ("not a number" in message or '"two"' in message), message
        assert "^^^" not in message and "Try setting" not in message, message
        # the column: DuckDB names it for Parquet; for JSON lines, that line's keys are cast one at a time
        column = "price" if fmt == "parquet" else "line_no"
        assert column in message, message
    assert "line 2: column line_no (declared INTEGER): " in message, message


def test_a_json_key_that_first_comes_late_is_a_column_and_a_latin1_byte_is_named_where_it_is(tmp_path):
    """DuckDB infers JSON keys from the first objects: a declared key that first comes at object
    30,001 was refused as missing. A CSV whose header is UTF-8 and whose second line is latin-1 was
    refused as an unreadable header (the check decoded 8 KB at once): it is DuckDB's error, with its
    line; a header that is not UTF-8 says so."""
    late = tmp_path / "events.jsonl"
    late.write_text("".join(f'{{"id": {i}, "kind": "a"}}\n' for i in range(30_000)) + '{"id": 0, "kind": "b", "extra": 5}\n')
    types = {"id": "BIGINT", "kind": "VARCHAR", "extra": "BIGINT"}
    header = check_header(late, types, "jsonl")
    with duckdb.connect() as conn:
        assert conn.execute(f"SELECT sum(extra) FROM ({select_file_sql(header, types)})").fetchone() == (5,)

    latin1 = tmp_path / "items.csv"
    latin1.write_bytes("id,name\n1,café\n".encode("latin-1"))
    header = check_header(latin1, {"id": "BIGINT", "name": "VARCHAR"})
    with duckdb.connect() as conn, pytest.raises(duckdb.Error) as raised:
        conn.execute(select_file_sql(header, {"id": "BIGINT", "name": "VARCHAR"})).fetchall()
    message = str(files.explain_duckdb_error(latin1, raised.value))
    assert message.startswith(f"{latin1} line 2:") and "not utf-8" in message, message
    latin1.write_bytes("id,prénom\n1,x\n".encode("latin-1"))
    with pytest.raises(files.BadInputFile, match="line 1: the header is not UTF-8 text"):
        check_header(latin1, {"id": "BIGINT"})


def test_a_json_key_some_lines_of_the_sample_lack_is_declared_optional(tmp_path):
    """`source add` from JSON lines where a key is in some objects only: declared required, the next
    delivery whose objects all lacked it was refused as missing it. It is declared optional, and such
    a delivery loads (NULL there)."""
    from clawdata.sources.infer import infer

    sample = tmp_path / "ev_2026-12-01.jsonl"
    sample.write_text('{"id": 1, "a": "x", "extra": 5}\n{"id": 2, "a": "y"}\n')
    inferred = infer("ev", sample, ["id"])
    assert inferred.spec.optional == {"extra"} and any("extra: absent from some lines" in n for n in inferred.notes)
    later = tmp_path / "ev_2026-12-02.jsonl"
    later.write_text('{"id": 3, "a": "z"}\n')
    header = check_header(later, inferred.spec.types, "jsonl", optional=inferred.spec.optional)
    with duckdb.connect() as conn:
        assert conn.execute(f"SELECT id, extra FROM ({select_file_sql(header, inferred.spec.types)})").fetchall() == [(3, None)]


def test_a_field_a_declared_struct_lacks_is_listed_as_ignored(tmp_path):
    """A Parquet struct or a JSON object with a field its declared STRUCT type lacks: the cast leaves it
    out, as an undeclared column is, and it is listed with them (`addr.country`), where it went unsaid."""
    parquet, jsonl = tmp_path / "parts.parquet", tmp_path / "events.jsonl"
    with duckdb.connect() as conn:
        conn.execute(f"COPY (SELECT 1 AS id, {{'street': 'a', 'zip': '1', 'country': 'NO'}} AS addr) TO '{parquet}'")
    jsonl.write_text("".join(f'{{"id": {i}, "meta": {{"x": 1}}}}\n' for i in range(30_000)) + '{"id": 0, "meta": {"x": 1, "z": 2}}\n')
    assert check_header(parquet, {"id": "BIGINT", "addr": "STRUCT(street VARCHAR, zip VARCHAR)"}, "parquet").ignored == ["addr.country"]
    assert check_header(jsonl, {"id": "BIGINT", "meta": "STRUCT(x BIGINT)"}, "jsonl").ignored == ["meta.z"]
    assert check_header(jsonl, {"id": "BIGINT", "meta": "STRUCT(x BIGINT, z BIGINT)"}, "jsonl").ignored == []
    nested = tmp_path / "nested.jsonl"  # two levels deep, and in a Parquet struct of a struct
    nested.write_text('{"id": 1, "meta": {"x": 1, "geo": {"lat": 1.5, "alt": 9}}}\n')
    assert check_header(nested, {"id": "BIGINT", "meta": "STRUCT(x BIGINT, geo STRUCT(lat DOUBLE))"}, "jsonl").ignored == ["meta.geo.alt"]
    deep = tmp_path / "deep.parquet"
    with duckdb.connect() as conn:
        conn.execute(f"COPY (SELECT 1 AS id, {{'street': 'a', 'geo': {{'lat': 1.5, 'Alt': 9}}}} AS addr) TO '{deep}'")
    declared = {"id": "BIGINT", "addr": "STRUCT(street VARCHAR, GEO STRUCT(lat DOUBLE))"}
    assert check_header(deep, declared, "parquet").ignored == ["addr.geo.Alt"]
    # A list of structs: its structs' new field, where a garbled `props.items.unnest(...)` was said of
    # every file (the one declared from too) and the new field went unnamed.
    listed = tmp_path / "listed.jsonl"
    listed.write_text('{"id": 1, "props": {"items": [{"sku": "A", "qty": 2}]}}\n')
    declared = {"id": "BIGINT", "props": "STRUCT(items STRUCT(sku VARCHAR)[])"}
    assert check_header(listed, declared, "jsonl").ignored == ["props.items[].qty"]
    assert check_header(listed, {**declared, "props": "STRUCT(items STRUCT(sku VARCHAR, qty BIGINT)[])"}, "jsonl").ignored == []


def test_a_file_goes_to_the_source_whose_pattern_names_it_most_closely(tmp_path, monkeypatch):
    """`product` (product*.csv) declared beside `products` (products*.csv): products_1.csv is the
    latter's alone; product_1.csv the former's. Alone, each pattern still takes what it matches."""
    sample, inbox = tmp_path / "sample", tmp_path / "inbox"
    sample.mkdir(), inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(sample))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    for path in (inbox / "product_1.csv", inbox / "products_1.csv", inbox / "products_2.csv", sample / "sample_products.csv"):
        path.write_text("x\n1\n")
    product, products = (FileSourceSpec.model_validate({"name": n, "key": "x", "columns": {"x": "BIGINT"}})
                         for n in ("product", "products"))
    declared = [product, products]
    assert [p.name for p in product.input_files(declared)] == ["product_1.csv"]
    assert [p.name for p in products.input_files(declared)] == ["sample_products.csv", "products_1.csv", "products_2.csv"]
    assert [p.name for p in product.input_files()] == ["product_1.csv", "products_1.csv", "products_2.csv"]
    (inbox / "eu").mkdir()
    (inbox / "eu" / "orders_1.csv").write_text("x\n1\n")
    for patterns in (["eu/orders*.csv"], ["**/orders*.csv"]):  # patterns into sub-folders, as glob reads them
        orders = FileSourceSpec.model_validate({"name": "orders", "key": "x", "columns": {"x": "BIGINT"},
                                                "files": {"inbox": patterns}})
        assert [p.name for p in orders.input_files([*declared, orders])] == ["orders_1.csv"], patterns
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(inbox))  # one folder for the sample and the inbox
    assert [p.name for p in products.input_files(declared)] == ["products_1.csv", "products_2.csv"]


def test_a_key_silver_cleans_is_one_key_whatever_its_spelling_in_the_files(tmp_path, monkeypatch):
    """'ab' and ' AB ' are one key once cleaned: a later delivery replaces its row, and a file taken out
    takes its version with it. (A merge by bronze's keys once added the new row beside the old one,
    and the full build kept one row per spelling.)"""
    sample, inbox = tmp_path / "sample", tmp_path / "inbox"
    sample.mkdir(), inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(sample))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    spec = FileSourceSpec.model_validate({"name": "codes", "key": ["code"], "columns": {
        "code": {"type": "VARCHAR", "trim": True, "case": "upper"}, "value": "BIGINT"}})
    assets = build_ingest_assets(spec, "defs/sources/codes/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))}
    with dg.instance_for_test() as instance:
        def silver() -> list[tuple]:
            assert dg.materialize(assets, instance=instance, resources=resources).success
            with read_only(tmp_path / "warehouse.duckdb") as conn:
                return conn.execute("SELECT code, value FROM silver.slv_codes ORDER BY 1").fetchall()

        (inbox / "codes_1.csv").write_text("code,value\nab,1\ncd,2\n")
        assert silver() == [("AB", 1), ("CD", 2)]
        (inbox / "codes_2.csv").write_text("code,value\n AB ,5\n")
        assert silver() == [("AB", 5), ("CD", 2)]
        (inbox / "codes_2.csv").unlink()
        assert silver() == [("AB", 1), ("CD", 2)]
        (inbox / "codes_3.csv").write_text("code,value\nAb,7\naB,8\n")  # one key twice in a file: its later row
        assert silver() == [("AB", 8), ("CD", 2)]


def test_two_versions_of_a_key_at_one_order_by_value_the_later_row_wins(tmp_path, monkeypatch):
    """An `order_by` tie inside one file (an export that wrote a key twice in the same second): the later
    row wins, as without an `order_by`, at every load and at a full refresh alike. It was whichever row
    DuckDB's parallel read met first, so silver mixed both and could change on a rebuild."""
    sample, inbox = tmp_path / "sample", tmp_path / "inbox"
    sample.mkdir(), inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(sample))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    spec = FileSourceSpec.model_validate({"name": "items", "key": ["id"], "order_by": "changed_at", "columns": {
        "id": "BIGINT", "label": "VARCHAR", "changed_at": "TIMESTAMP"}})
    assets = build_ingest_assets(spec, "defs/sources/items/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))}
    keys = 200_000  # more rows than one read thread takes
    (inbox / "items_1.csv").write_text("id,label,changed_at\n" + "".join(
        f"{i},first,2026-12-01 10:00:00\n{i},second,2026-12-01 10:00:00\n" for i in range(keys)))
    with dg.instance_for_test() as instance:
        for tags in (None, {FULL_REFRESH_TAG: "true"}):
            assert dg.materialize(assets, instance=instance, resources=resources, tags=tags).success
            with read_only(tmp_path / "warehouse.duckdb") as conn:
                assert conn.execute("SELECT label, count(*) FROM silver.slv_items GROUP BY 1").fetchall() == [("second", keys)]


def test_numbered_deliveries_win_in_the_order_of_their_numbers(tmp_path, monkeypatch):
    """Exporters number their files: `subs_10.csv` came after `subs_9.csv`. Ranked by name as text,
    10 sorted first and the older file's row won, the run said SUCCESS (an outsider's stack)."""
    sample, inbox = tmp_path / "sample", tmp_path / "inbox"
    sample.mkdir(), inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(sample))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    spec = FileSourceSpec.model_validate({"name": "subs", "key": ["id"], "columns": {"id": "BIGINT", "amount": "DOUBLE"}})
    assets = build_ingest_assets(spec, "defs/sources/subs/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))}
    with dg.instance_for_test() as instance:
        for number, amount in ((9, 1.0), (10, 2.0), (100, 3.0)):
            (inbox / f"subs_{number}.csv").write_text(f"id,amount\n20,{amount}\n")
            assert dg.materialize(assets, instance=instance, resources=resources).success
            with read_only(tmp_path / "warehouse.duckdb") as conn:
                assert conn.execute("SELECT amount FROM silver.slv_subs").fetchall() == [(amount,)], number
        assert dg.materialize(assets, instance=instance, resources=resources, tags={FULL_REFRESH_TAG: "true"}).success
    with read_only(tmp_path / "warehouse.duckdb") as conn:
        assert conn.execute("SELECT amount FROM silver.slv_subs").fetchall() == [(3.0,)]
    assert [p.name for p in spec.input_files()] == ["subs_9.csv", "subs_10.csv", "subs_100.csv"]


def test_a_declaration_is_written_a_column_a_line_and_a_cut_type_is_named(defs_dir, tmp_path):
    """`source add` wrote the columns as one flow mapping: a type edited there to DECIMAL(12,2) was
    cut at its comma and the build said `columns.2).str: Input should be a valid string`."""
    export = tmp_path / "subs.csv"
    export.write_text("sub id;Montant mensuel\n1;10,5\n")
    written = add("subs", export, ["sub id"])
    assert "\n    Montant mensuel: DOUBLE\n" in written.read_text(), written.read_text()
    written.write_text(written.read_text().replace("Montant mensuel: DOUBLE", "Montant mensuel: DECIMAL(12,2)"))
    assert declarations.read(written).spec.types["Montant mensuel"] == "DECIMAL(12,2)"
    flow = written.read_text().replace("  columns:\n    sub id: BIGINT\n    Montant mensuel: DECIMAL(12,2)\n",
                                       "  columns: {sub id: BIGINT, Montant mensuel: DECIMAL(12,2)}\n")
    written.write_text(flow)
    with pytest.raises(declarations.DeclarationError, match=r"defs.yaml: Montant mensuel: DECIMAL\(12: "
                                                             r"a type with a comma was cut there; quote it"):
        declarations.read(written)


def test_an_optional_column_is_null_in_the_files_that_lack_it(tmp_path):
    """A column added to a source when newer deliveries bring it: the older files lack it, and every
    run failed on them (`missing column(s) channel`) unless they left the inbox with their rows.
    Declared `optional: true`, it is NULL in their rows; a column not optional is still required."""
    spec = FileSourceSpec.model_validate({"name": "returns", "format": "csv", "key": "id",
                                          "columns": {"id": "BIGINT", "channel": {"type": "VARCHAR", "optional": True}}})
    old, new = tmp_path / "returns_1.csv", tmp_path / "returns_2.csv"
    old.write_text("id\n1\n")
    new.write_text("id,channel\n2,web\n")
    headers = [check_header(p, spec.types, "csv", optional=spec.optional) for p in (old, new)]
    assert headers[0].absent == ["channel"] and headers[1].absent == []
    with duckdb.connect() as conn:
        rows = conn.execute(" UNION ALL ".join(f"SELECT id, channel FROM ({select_file_sql(h, spec.types)})" for h in headers)).fetchall()
    assert rows == [(1, None), (2, "web")], rows
    with pytest.raises(files.BadInputFile, match="missing column"):
        check_header(old, {"id": "BIGINT", "channel": "VARCHAR"}, "csv")


def test_exports_in_latin1_utf16_or_with_a_trailing_delimiter_are_declared_and_loaded(defs_dir, tmp_path, monkeypatch):
    """A Latin-1 or UTF-16 export could not be declared (`source add` said only "CSV Error on Line: 1")
    nor loaded; an export with a delimiter at the end of every line was declared with an empty column
    that no load could read (a Binder error). Each is declared and loads; Windows-1252 is named."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(tmp_path / "no-sample"))
    exports = {"clients": ("Numéro;Nom\r\n1;Zoë\r\n2;Çedric\r\n".encode("latin-1"), "latin-1", "Numéro", "Nom"),
               "people": ("id,name\n1,Zoë\n2,Çedric\n".encode("utf-16"), "utf-16", "id", "name"),
               "trails": ("id;name;\n1;Zoë;\n2;Çedric;\n".encode("utf-8"), "utf-8", "id", "name")}
    warehouse = tmp_path / "warehouse.duckdb"
    for name, (content, encoding, key, text) in exports.items():
        sample = tmp_path / f"{name}.csv"
        sample.write_bytes(content)
        spec = declarations.read(add(name, sample, [key])).spec
        assert spec.encoding == encoding and list(spec.types) == [key, text], spec
        (inbox / f"{name}_1.csv").write_bytes(content)
        assets = build_ingest_assets(spec, f"defs/sources/{name}/defs.yaml")
        with dg.instance_for_test() as instance:
            result = dg.materialize(assets, instance=instance, resources={"duckdb": DuckDBResource(database=str(warehouse))})
            assert result.success
            ignored = result.asset_materializations_for_node(f"raw_{name}")[0].metadata["ignored_columns"].value
        assert ignored == (["trails_1.csv: column2"] if name == "trails" else []), ignored
        with read_only(warehouse) as conn:
            assert conn.execute(f'SELECT "{text}" FROM silver.slv_{name} ORDER BY 1').fetchall() == [("Zoë",), ("Çedric",)]

    windows = tmp_path / "prices.csv"
    windows.write_bytes("id;price\n1;5 €\n".encode("cp1252"))
    with pytest.raises(ClawdataError, match=r"Windows-1252.*iconv -f cp1252 -t utf-8"):
        add("prices", windows, ["id"])
    bad = inbox / "clients_2.csv"  # a Latin-1 source's delivery in Windows-1252: named, with the way out
    bad.write_bytes("Numéro;Nom\r\n3;5 €\r\n".encode("cp1252"))
    spec = declarations.read(defs_dir / "sources" / "clients" / "defs.yaml").spec
    header = check_header(bad, spec.types, "csv", ";", encoding="latin-1")
    with duckdb.connect() as conn, pytest.raises(duckdb.Error) as raised:
        conn.execute(select_file_sql(header, spec.types)).fetchall()
    said = str(files.explain_duckdb_error(bad, raised.value, ";", "latin-1"))
    # (both steps: converted alone, the file was refused next as UTF-8 text in a latin-1 source)
    assert "iconv -f cp1252" in said and "and remove the source's `encoding: latin-1`" in said, said
    # A UTF-8 source's: latin-1 would be refused as well, so the hint is the one that works
    # (it said "set the source's encoding (latin-1 ...)", and the next run named Windows-1252).
    with duckdb.connect() as conn, pytest.raises(duckdb.Error) as raised:
        conn.execute(f"SELECT * FROM read_csv('{bad}', delim=';', header=true)").fetchall()
    said = str(files.explain_duckdb_error(bad, raised.value, ";", "utf-8"))
    assert "iconv -f cp1252" in said and "latin-1" not in said, said
    with pytest.raises(files.BadInputFile, match="iconv -f cp1252"):  # in its header
        check_header(bad, {"Numéro": "BIGINT", "Nom": "VARCHAR"}, "csv", ";")
    latin = tmp_path / "latin.csv"  # plain Latin-1 (no Windows-1252 byte): latin-1 is the way
    latin.write_bytes("id;nom\n1;Zoë\n".encode("latin-1"))
    with duckdb.connect() as conn, pytest.raises(duckdb.Error) as raised:
        conn.execute(f"SELECT * FROM read_csv('{latin}', delim=';', header=true)").fetchall()
    assert "`encoding` (latin-1" in str(files.explain_duckdb_error(latin, raised.value, ";", "utf-8"))
    latin.write_bytes("id;nom\n1;It’s\n".encode() + "2;Zoë\n".encode("latin-1"))  # UTF-8's ’ is E2 80 99: no cp1252
    with duckdb.connect() as conn, pytest.raises(duckdb.Error) as raised:
        conn.execute(f"SELECT * FROM read_csv('{latin}', delim=';', header=true)").fetchall()
    assert "iconv" not in str(files.explain_duckdb_error(latin, raised.value, ";", "utf-8"))


def test_a_delivery_with_mixed_line_endings_or_a_broken_json_line_names_its_line(tmp_path):
    """Two exports joined (LF lines, then CRLF ones) failed with DuckDB's "invalid state" and no line; a
    malformed JSON line found while reading the file's columns was named one line too far, unshown."""
    mixed = tmp_path / "clients_1.csv"
    mixed.write_bytes(b"id;name\n1;x\n2;y\r\n3;z\r\n")
    types = {"id": "BIGINT", "name": "VARCHAR"}
    header = check_header(mixed, types, "csv", ";")
    with duckdb.connect() as conn, pytest.raises(duckdb.Error) as raised:
        conn.execute(select_file_sql(header, types)).fetchall()
    assert str(files.explain_duckdb_error(mixed, raised.value, ";")).startswith(
        f"{mixed} line 3: its line ends in CRLF where line 1's ends in LF"), raised.value
    broken = tmp_path / "events_1.jsonl"
    broken.write_text('{"id": 1}\n{"id": 2, "user": {"x": 4\n{"id": 3}\n')
    with pytest.raises(files.BadInputFile, match=r"events_1.jsonl line 2: malformed JSON .*line reads: '\{\"id\": 2"):
        check_header(broken, {"id": "BIGINT"}, "jsonl")
    # the others too, at once (DuckDB stops at the first: a fix and a delivery per bad line)
    broken.write_text("".join('{"id": %d}\n' % i if i % 3 else '{"id": %d,\n' % i for i in range(1, 22)))
    with pytest.raises(files.BadInputFile, match=r"line 3: malformed JSON .*; malformed too: lines 6, 9, 12, 15, 18 and more$"):
        check_header(broken, {"id": "BIGINT"}, "jsonl")


def test_a_wide_file_missing_a_column_says_which_in_a_line_a_reader_reads(tmp_path):
    """A 502-column export missing one column failed with every expected and every found name: 7 KB on one line."""
    declared = {"rec_id": "BIGINT", **{f"m{i:03}": "DOUBLE" for i in range(500)}, "note": "VARCHAR"}
    wide = tmp_path / "wide_1.csv"
    wide.write_text(",".join(c for c in declared if c != "m250") + "\n")
    with pytest.raises(files.BadInputFile) as raised:
        check_header(wide, declared)
    message = str(raised.value)
    assert "missing column(s) m250; 501 found of 502 declared" in message and "optional: true" in message, message
    assert len(message) < 400, len(message)


def test_a_source_declared_before_its_first_file_is_empty_and_its_files_gone_later_fail_keeping_rows(tmp_path, monkeypatch):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "warehouse.duckdb"
    inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(tmp_path / "no_sample"))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    assets = build_ingest_assets(FileSourceSpec.model_validate(VISITS), "defs/sources/visits/defs.yaml")
    resources = {"duckdb": DuckDBResource(database=str(warehouse))}

    def schema_and_rows() -> list:
        with read_only(warehouse) as conn:
            return [(conn.execute(f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{t}' "
                                  "ORDER BY ordinal_position").fetchall(), conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                    for t in ("raw_visits", "slv_visits")]

    with dg.instance_for_test() as instance:
        def run(full: bool = False) -> dg.ExecuteInProcessResult:
            return dg.materialize(assets, instance=instance, resources=resources, raise_on_error=False,
                                  tags={FULL_REFRESH_TAG: "true"} if full else None)

        first = run()
        assert first.success  # a declaration before its data fails no run: its tables are empty
        warnings = [r.user_message for r in instance.all_logs(first.run_id) if r.level == 30]
        assert any("source visits: no file delivered yet (" in w and "visits*.csv(.gz) in" in w for w in warnings), warnings
        assert {c.check_name: c.passed for c in first.get_asset_check_evaluations()}["rows_present"] is True
        empty = schema_and_rows()
        assert [rows for _, rows in empty] == [0, 0]

        write(inbox / "visits_1", FIRST, "csv")
        assert run().success
        assert schema_and_rows()[1][1] == len(expected([FIRST]))
        assert run(full=True).success  # the columns an empty build gives are the ones a file gives
        loaded = schema_and_rows()
        assert [columns for columns, _ in loaded] == [columns for columns, _ in empty]

        (inbox / "visits_1.csv").unlink()  # every file gone: an error, and the rows stay
        gone = run()
        assert not gone.success
        failure = next(e for e in gone.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data
        assert "source visits: no file found" in failure.user_failure_data.description
        assert "bronze holds 3 rows of earlier files, kept" in failure.user_failure_data.description
        assert schema_and_rows() == loaded


def test_an_empty_delivery_is_taken_until_bronze_has_held_rows_then_refused(tmp_path, monkeypatch):
    """A header-only first export is the source's truth (no row yet); once bronze held rows, a version
    with none (the only file re-delivered empty) fails rows_present and the rows stay."""
    inbox, warehouse = tmp_path / "inbox", tmp_path / "warehouse.duckdb"
    inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(tmp_path / "no_sample"))
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    assets = build_ingest_assets(FileSourceSpec.model_validate(VISITS), "defs/sources/visits/defs.yaml")

    def run(content: str) -> tuple[bool, bool, int]:
        (inbox / "visits_1.csv").write_text(content)
        with dg.instance_for_test() as instance:
            result = dg.materialize(assets, instance=instance, raise_on_error=False,
                                    resources={"duckdb": DuckDBResource(database=str(warehouse))})
        present = {(c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()}
        with read_only(warehouse) as conn:
            return result.success, present[("raw_visits", "rows_present")], conn.execute("SELECT count(*) FROM raw_visits").fetchone()[0]

    header = ",".join(HEADER) + "\n"
    assert run(header) == (True, True, 0)
    (inbox / "visits_0.csv").write_text(header)  # beside rows: taken, with a warning
    with dg.instance_for_test() as instance:
        (inbox / "visits_1.csv").write_text(header + "eu,2026-11-01,1,3,a\n")
        result = dg.materialize(assets, instance=instance, resources={"duckdb": DuckDBResource(database=str(warehouse))})
        warnings = [r.user_message for r in instance.all_logs(result.run_id) if r.level == 30]
    assert any("source visits: no row in visits_0.csv (a header alone)" in w for w in warnings), warnings
    (inbox / "visits_0.csv").unlink()
    assert run(header + "".join(",".join("" if v is None else str(v) for v in r) + "\n" for r in FIRST)) == (True, True, 3)
    assert run(header) == (False, False, 3)


def test_a_parquet_value_the_cast_to_its_declared_type_would_change_refuses_the_file(tmp_path):
    """DuckDB rounds a Parquet column cast to a narrower declared type without a word: the file is
    refused naming the column, the types and a value; a cast that keeps every value is fine."""
    path = tmp_path / "prices_2.parquet"
    with duckdb.connect() as conn:
        conn.execute(f"COPY (SELECT 1 AS id, 1.2345::DECIMAL(12,4) AS amount, 1.5::DOUBLE AS qty, "
                     f"TIMESTAMP '2026-01-01 10:00' AS at, 2.0::DOUBLE AS whole UNION ALL "
                     f"SELECT 2, 9.99, 2.0, TIMESTAMP '2026-01-02', 3.0) TO '{path}' (FORMAT parquet)")
    refused = {
        "amount": ("DECIMAL(10,2)", "column amount is DECIMAL(12,4) in the file and declared DECIMAL(10,2): the cast would "
                                    "change 1 value (e.g. 1.2345 becomes 1.23); declare it DECIMAL(12,4) to keep them"),
        "qty": ("BIGINT", "column qty is DOUBLE in the file and declared BIGINT: the cast would change 1 value (e.g. 1.5 becomes 2)"),
        "at": ("DATE", "column at is TIMESTAMP in the file and declared DATE"),
    }
    for column, (declared, message) in refused.items():
        with pytest.raises(files.BadInputFile, match=re.escape(message)):
            check_header(path, {"id": "BIGINT", column: declared}, "parquet")
    kept = check_header(path, {"id": "BIGINT", "amount": "DOUBLE", "whole": "BIGINT", "at": "TIMESTAMPTZ"}, "parquet")
    assert kept.absent == []


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_a_csv_or_json_value_its_declared_number_type_would_round_refuses_the_file(file_format, tmp_path):
    """DuckDB rounds text read into a number (2.5 into an INTEGER is 3, 19.005 into DECIMAL(12,2)
    19.01), a key included, and the file loaded without a word: it is refused by its line, naming the
    column, the value and what it would have become; the types' own extremes load as they are."""
    types = {"id": "BIGINT", "qty": "INTEGER", "price": "DECIMAL(12,2)"}
    cases = {"a fraction in a whole number": ([[1, 2, "1.50"], [2, "2.5", "3.00"]], "line {line}: column qty (declared INTEGER): 2.5 would load as 3"),
             "a fraction in the key": ([[1, 2, "1.50"], ["6.7", 1, "1.00"]], "line {line}: column id (declared BIGINT): 6.7 would load as 7"),
             "more decimals than declared": ([[1, 2, "19.005"]], "line {line}: column price (declared DECIMAL(12,2)): 19.005 would load as 19.01"),
             "too large": ([[1, 3000000000, "1"]], "line {line}: column qty (declared INTEGER): 3000000000 does not fit it")}
    def write_numbers(name: str, rows: list[list]) -> Path:  # JSON: numbers as numbers
        path = tmp_path / f"{name.replace(' ', '_')}.{file_format}"
        path.write_text("id,qty,price\n" + "".join(",".join("" if v is None else str(v) for v in r) + "\n" for r in rows)
                        if file_format == "csv" else
                        "".join(json.dumps(dict(zip(types, [v if v is None else json.loads(str(v)) for v in r]))) + "\n" for r in rows))
        return path

    for case, (rows, said) in cases.items():
        path = write_numbers(case, rows)
        header = check_header(path, types, file_format)
        with duckdb.connect() as conn, pytest.raises(duckdb.Error) as raised:
            conn.execute(select_file_sql(header, types)).fetchall()
        line = len(rows) + (1 if file_format == "csv" else 0)
        assert str(files.explain_duckdb_error(path, raised.value, file_format=file_format)) == f"{path} " + said.format(line=line), case
    extremes = write_numbers("extremes", [[9223372036854775807, -2147483648, "-9999999999.99"], [2, None, None]])
    with duckdb.connect() as conn:
        read = conn.execute(select_file_sql(check_header(extremes, types, file_format), types)).fetchall()
    assert [row[:3] for row in read] == [(9223372036854775807, -2147483648, Decimal("-9999999999.99")), (2, None, None)]


def test_what_source_add_declares_from_a_file_its_deliveries_load_as_declared(defs_dir, tmp_path, monkeypatch):
    """An outsider's files: a value far down that no longer fits the first rows' type (it refused the
    file the source was declared from), columns named as bronze's own (`_row` decided which version
    won; a second delivery failed), and an Excel `sep=` line above the header (declared, then every
    load refused it, hinting `optional`)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(tmp_path / "no-sample"))
    late = tmp_path / "late.csv"
    late.write_text("id,code,_row,_Loaded_At\n" + "".join(f"{i},{i},{i % 7},x\n" for i in range(1, 30001)) + "30001,A12,1,y\n")
    spec = declarations.read(add("late", late, ["id"])).spec
    assert spec.types == {"id": "BIGINT", "code": "VARCHAR"}, spec.types
    (inbox / "late_1.csv").write_bytes(late.read_bytes())
    (inbox / "late_2.csv").write_text("id,code,_row,_Loaded_At\n1,B1,0,z\n1,B2,9,z\n")  # the later row wins, not _row 9
    warehouse = tmp_path / "warehouse.duckdb"
    with dg.instance_for_test() as instance:
        result = dg.materialize(build_ingest_assets(spec, "defs.yaml"), instance=instance,
                                resources={"duckdb": DuckDBResource(database=str(warehouse))})
    assert result.success
    with read_only(warehouse) as conn:
        assert conn.execute("SELECT count(*), max(code) FILTER (WHERE id = 1), max(code) FILTER (WHERE id = 30001) "
                            "FROM silver.slv_late").fetchone() == (30001, "B2", "A12")
    with pytest.raises(ValueError, match="_ROW: bronze keeps columns of these names"):
        FileSourceSpec(name="late", columns={"id": "BIGINT", "_ROW": "BIGINT"}, key=["id"])
    excel = tmp_path / "excel.csv"
    excel.write_bytes(b"sep=;\r\nid;name\r\n1;a\r\n")
    with pytest.raises(ClawdataError, match=r"the header is on line 2, below 'sep=;'"):
        add("excel", excel, ["id"])
    with pytest.raises(files.BadInputFile, match=r"Excel's 'sep=' line comes before the header"):
        check_header(excel, {"id": "BIGINT", "name": "VARCHAR"}, "csv", ";")
    ragged = tmp_path / "ragged.csv"  # (DuckDB's sniffer then took the bad line for the header)
    ragged.write_text("id,name\n" + "".join(f"{i},x\n" for i in range(1, 31)) + "31,x,extra\n")
    with pytest.raises(ClawdataError, match=r"ragged.csv line 32: 3 fields where the header has 2"):
        add("ragged", ragged, ["id"])
    far = tmp_path / "far.csv"  # beyond DuckDB's sample: the line, not "no dialect fits"
    far.write_text("id,name\n" + "".join(f"{i},x\n" for i in range(1, 30001)) + "30001,x,extra\n")
    with pytest.raises(ClawdataError, match=r"far.csv line 30002: Expected Number of Columns: 2 Found: 3"):
        add("far", far, ["id"])


def test_a_utf8_delivery_to_a_latin1_source_is_refused_not_garbled(tmp_path):
    """Latin-1 reads any byte: a UTF-8 file (or one that starts with UTF-8's byte order mark) loaded
    into a Latin-1 source as GenÃ¨ve, and the run succeeded. Each is refused, naming the way out;
    a Latin-1 or plain ASCII file is read as before."""
    types = {"id": "BIGINT", "city": "VARCHAR"}
    for name, content, refused in (("utf8", "id,city\n1,Genève\n".encode(), r"line 2: UTF-8 text \('1,Genève'\)"),
                                   ("bom", b"\xef\xbb\xbfid,city\n1,Bern\n", "UTF-8's byte order mark"),
                                   ("latin1", "id,city\n1,Zürich\n".encode("latin-1"), None),
                                   ("at_the_end", b"id,city\n1,Caf\xe9", None),  # a lone byte at the file's end
                                   ("ascii", b"id,city\n1,Bern\n", None)):
        path = tmp_path / f"{name}.csv"
        path.write_bytes(content)
        if refused:
            with pytest.raises(files.BadInputFile, match=refused + r".*iconv -f utf-8 -t latin1"):
                check_header(path, types, "csv", ",", encoding="latin-1")
        else:
            assert check_header(path, types, "csv", ",", encoding="latin-1").columns == ["id", "city"]


def test_a_time_without_its_zone_in_a_timestamptz_column_is_read_as_utc_whatever_the_session_zone(tmp_path):
    """DuckDB reads such a time in its session's zone, the machine's: the same file gave other instants
    on a laptop in New York than in the stack. Read as UTC; a time with its offset is unchanged, and
    the session keeps its zone."""
    from clawdata.sources.loads import _read_files

    path = tmp_path / "tz.csv"
    path.write_text("id,at\n1,2024-01-01T10:00:00+02:00\n2,2024-01-01 10:00:00\n")
    spec = FileSourceSpec(name="tz", columns={"id": "BIGINT", "at": "TIMESTAMPTZ"}, key=["id"])
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'America/New_York'")
        _read_files(conn, "t", [check_header(path, spec.types)], spec)
        assert conn.execute('SELECT list(epoch("at") ORDER BY id) FROM t').fetchone()[0] == [1704096000, 1704103200]
        assert conn.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "America/New_York"


def test_a_json_array_is_named_as_such_where_json_lines_are_read(defs_dir, tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text('[{"id": 1}, {"id": 2}]\n')
    with pytest.raises(ClawdataError, match=r"a JSON array; clawdata reads JSON lines.*jq -c"):
        add("orders_feed", path, ["id"])
    with pytest.raises(files.BadInputFile, match="a JSON array"):
        check_header(path, {"id": "BIGINT"}, "jsonl")


def test_a_text_field_longer_than_the_readers_defaults_is_declared_and_loaded(defs_dir, tmp_path, monkeypatch):
    """An export with one long text field (an HTML description, a JSON blob): DuckDB refuses a CSV
    line over 2 MB by default, naming an option of its own the user cannot set, and Python's csv
    module a field over 128 KB."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("CLAWDATA_INBOX_DIR", str(inbox))
    monkeypatch.setenv("CLAWDATA_SAMPLE_DIR", str(tmp_path / "no-sample"))
    notes = tmp_path / "notes.csv"
    notes.write_text(f'id,body\n1,"{"x" * 3_000_000}"\n2,short\n')
    spec = declarations.read(add("notes", notes, ["id"])).spec
    assert spec.types == {"id": "BIGINT", "body": "VARCHAR"}
    (inbox / "notes_1.csv").write_bytes(notes.read_bytes())
    warehouse = tmp_path / "warehouse.duckdb"
    with dg.instance_for_test() as instance:
        assert dg.materialize(build_ingest_assets(spec, "defs.yaml"), instance=instance,
                              resources={"duckdb": DuckDBResource(database=str(warehouse))}).success
    with read_only(warehouse) as conn:
        assert conn.execute("SELECT list(length(body) ORDER BY id) FROM silver.slv_notes").fetchone()[0] == [3_000_000, 5]
