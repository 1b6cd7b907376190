"""How bronze and silver are written: in full, or by delivery (the warehouse's ledger, see
warehouse/ledger.py, says what each already holds).

- Bronze by file: a new file is appended; a re-delivered one (same name, new size or modification
  time) has its rows replaced; a file gone from the folders has its rows removed. The keys of every
  row added or removed go to bronze's change log.
- Silver by key: only the keys in bronze's change log since silver's last merge are deduplicated
  again (the same SELECT as a full build, over those keys' bronze rows), deleted and re-inserted;
  the old and new versions go to silver's change log, which gold's incremental dbt models read.

A full build (no ledger yet, a code change, a full build upstream, or the `clawdata/full_refresh`
run tag) writes the same tables from every file, and starts the ledger anew.
"""

import re
from contextlib import contextmanager
from pathlib import Path

import duckdb
from duckdb import Error as DuckDBError

from clawdata.sources.spec import FileSourceSpec as Source, file_rank
from clawdata.warehouse import ledger
from clawdata.warehouse.ledger import file_fingerprint
from clawdata.warehouse.files import (BadInputFile, FileHeader, explain_duckdb_error, name_the_json_column, no_file_sql,
                                       other_bad_lines, select_file_sql)
from clawdata.warehouse.publish import Audit, Published, publish, publish_changes
from clawdata.warehouse.tables import Table, ident


def load_bronze(conn: duckdb.DuckDBPyConnection, source: Source, headers: list[FileHeader], code_version: str,
                audits: list[Audit], full: bool) -> tuple[Published, list[str]]:
    """Write bronze from the checked files; returns the result and the names of the files loaded."""
    ledger.ensure(conn)
    table, name, changes = source.bronze, source.raw_table, ledger.changes_table(source.raw_table)
    keys = source.keys_sql()
    current = {str(h.path): (h, file_fingerprint(h.path)) for h in headers}
    state = ledger.layer(conn, name)
    if full or state is None or state.code_version != code_version or not table.exists(conn):
        def build(staging: Table) -> None:
            _read_files(conn, str(staging), headers, source)
            conn.execute(f"CREATE OR REPLACE TABLE {changes} AS SELECT 0::BIGINT AS batch, {keys} FROM {staging} LIMIT 0")
            _record(conn, name, str(staging), current, ledger.next_batch(conn), code_version, full=True)

        return publish(conn, table, build, audits), [h.path.name for h in headers]

    held = ledger.loaded_files(conn, name)
    stale = sorted(f for f, fingerprint in held.items() if f not in current or current[f][1] != fingerprint)
    new = {f: v for f, v in current.items() if held.get(f) != v[1]}
    delta = f'"{name}__delta"'  # a temporary table

    def apply() -> tuple[str, str | None]:  # (rows written, keys rewritten)
        batch = ledger.next_batch(conn)
        if stale:  # re-delivered or removed: their rows go, their keys are changed
            conn.execute(f"INSERT INTO {changes} SELECT ?, {keys} FROM {table} WHERE _source_file IN (SELECT unnest(?))",
                         [batch, stale])
            conn.execute(f"DELETE FROM {table} WHERE _source_file IN (SELECT unnest(?))", [stale])
            ledger.forget_files(conn, name, stale)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {delta} AS SELECT * FROM {table} LIMIT 0")
        _read_files(conn, delta, [h for h, _ in new.values()], source, create=False)
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {delta}")
        conn.execute(f"INSERT INTO {changes} SELECT ?, {keys} FROM {delta}", [batch])
        _record(conn, name, delta, new, batch, code_version, full=False)
        return delta, None

    return publish_changes(conn, table, apply, audits), [Path(f).name for f in new]


def merge_silver(conn: duckdb.DuckDBPyConnection, source: Source, code_version: str, audits: list[Audit],
                 full: bool) -> Published:
    ledger.ensure(conn)
    table, name, keys = source.silver, source.silver_table, source.keys_sql()
    bronze, state = ledger.layer(conn, source.raw_table), ledger.layer(conn, name)
    bronze_changes, changes = ledger.changes_table(source.raw_table), ledger.changes_table(name)
    merged_to = bronze.last_batch if bronze else 0  # 0: nothing merged, the next merge is full
    # A key silver cleans is not bronze's: silver is built whole (a merge by bronze's keys would add
    # the new version beside the old one).
    if (full or bronze is None or state is None or state.code_version != code_version or source.cleans_keys()
            or bronze.full_batch > state.merged_batch or not table.exists(conn)):
        def build(staging: Table) -> None:
            conn.execute(f"CREATE TABLE {staging} AS {source.silver_select()}")
            conn.execute(f"CREATE OR REPLACE TABLE {changes} AS "
                         f"SELECT 0::BIGINT AS _batch, ''::VARCHAR AS _op, * FROM {staging} LIMIT 0")
            ledger.record_layer(conn, name, code_version, ledger.next_batch(conn), full=True, merged_batch=merged_to)
            if bronze is not None:
                conn.execute(f"DELETE FROM {bronze_changes} WHERE batch <= ?", [merged_to])

        return publish(conn, table, build, audits)

    delta, affected, current = (f'"{name}__{part}"' for part in ("delta", "affected", "current"))  # temporary tables
    joined = " AND ".join(f't."{k}" = k."{k}"' for k in source.key)

    def apply() -> tuple[str, str | None]:  # (rows written, keys rewritten)
        batch = ledger.next_batch(conn)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {affected} AS "
                     f"SELECT DISTINCT {keys} FROM {bronze_changes} WHERE batch > ?", [state.merged_batch])
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {delta} AS "
                     f'{source.silver_select(f"(SELECT * FROM {source.bronze} SEMI JOIN {affected} USING ({keys}))")}')
        _keep_what_differs(conn, table, delta, affected, current, keys)
        conn.execute(f"INSERT INTO {changes} BY NAME SELECT ? AS _batch, 'old' AS _op, * FROM {current}", [batch])
        conn.execute(f"DELETE FROM {table} AS t USING {affected} AS k WHERE {joined}")
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {delta}")
        conn.execute(f"INSERT INTO {changes} BY NAME SELECT ? AS _batch, 'new' AS _op, * FROM {delta}", [batch])
        ledger.record_layer(conn, name, code_version, batch, full=False, merged_batch=merged_to)
        conn.execute(f"DELETE FROM {bronze_changes} WHERE batch <= ?", [merged_to])
        return delta, affected

    return publish_changes(conn, table, apply, audits)


def _keep_what_differs(conn: duckdb.DuckDBPyConnection, table: Table, delta: str, affected: str, current: str,
                       keys: str) -> None:
    """Narrow a merge to the keys whose rows change. Rows read again as they were (a database
    table's rows without a cursor value, read at every load; a delivery that repeats earlier rows)
    rewrite nothing, so silver keeps its data version and gold has nothing to recompute. A key whose
    rows are gone from bronze (a file taken out) differs too. Leaves `current` holding the rows about
    to be replaced."""
    columns = ", ".join(ident(c) for c, *_ in conn.execute(f"DESCRIBE {delta}").fetchall())
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {current} AS SELECT {columns} FROM {table} SEMI JOIN {affected} USING ({keys})")
    # Rows compared as text: values DuckDB calls equal but tells apart (INTERVAL '1 month' and
    # '30 days', -0.0 and 0.0) are a change, as a rebuild would show them.
    rows = {r: f"(SELECT {keys}, md5(CAST(t AS VARCHAR)) FROM (SELECT {columns} FROM {r}) AS t)" for r in (delta, current)}
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {affected} AS SELECT DISTINCT {keys} FROM ("
                 f"({rows[delta]} EXCEPT ALL {rows[current]}) UNION ALL ({rows[current]} EXCEPT ALL {rows[delta]}))")
    for relation in (delta, current):
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT * FROM {relation} SEMI JOIN {affected} USING ({keys})")


def _read_files(conn: duckdb.DuckDBPyConnection, target: str, headers: list[FileHeader], source: Source,
                create: bool = True) -> None:
    """Each file read on its own (an error names its file), with its rank and load time. No file
    (a source before its first delivery) creates the table empty, with the columns files give it."""
    reads = [(header, select_file_sql(header, source.types, source.null_markers, date_format=source.date_format,
                                      timestamp_format=source.timestamp_format)) for header in headers]
    with _zone_utc(conn):
        for i, (header, read) in enumerate(reads or ([(None, no_file_sql(source.types))] if create else [])):
            _read_file(conn, target, source, header, read, create and i == 0)


@contextmanager
def _zone_utc(conn: duckdb.DuckDBPyConnection):
    """A file's time without a zone, read into a TIMESTAMPTZ column, is taken as UTC. DuckDB takes it
    in the session's zone, the machine's (TZ, /etc/localtime): the same file gave other instants on a
    laptop than in the stack (UTC), and a reload elsewhere would rewrite them. A time with its offset
    is the same instant either way. The session's zone is set back after the reads; after a read that
    failed, the transaction is aborted and no statement runs until its rollback: the connection (the
    step's own, closed as the step fails) keeps UTC."""
    zone = conn.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    restore = f"SET TimeZone = '{zone.replace(chr(39), chr(39) * 2)}'"
    conn.execute("SET TimeZone = 'UTC'")
    try:
        yield
    except BaseException:
        try:  # (a failed read aborted the transaction: no statement runs until it is rolled back)
            conn.execute(restore)
        except DuckDBError:
            pass
        raise
    conn.execute(restore)


def _read_file(conn: duckdb.DuckDBPyConnection, target: str, source: Source, header: FileHeader | None, read: str,
               create: bool) -> None:
    rank = file_rank(header.path).replace("'", "''") if header else ""
    select = (f"SELECT * EXCLUDE (_row), '{rank}' AS _file_rank, _row, current_timestamp AS _loaded_at "
              f"FROM ({read})")
    statement = f"CREATE TABLE {target} AS {select}" if create else f"INSERT INTO {target} BY NAME {select}"
    try:
        conn.execute(statement)
    except DuckDBError as e:
        if header is None:  # a declared type DuckDB does not know: the declaration's error, not a file's
            raise
        said = explain_duckdb_error(header.path, e, header.delimiter, header.encoding, header.format, source.types)
        said = _with_declared_format(said, source)
        if header.format == "jsonl":
            said = name_the_json_column(header, source.types, said)
        if header.format == "csv":
            said = other_bad_lines(header, select_file_sql(
                header, source.types, source.null_markers, date_format=source.date_format,
                timestamp_format=source.timestamp_format, keep_going=True), said)
        raise said from None


def _with_declared_format(said: BadInputFile, source: Source) -> BadInputFile:
    """A date or time DuckDB could not convert, read with the source's own format: that format is named
    (DuckDB's message names the type alone, and the value may be fine ISO in a %m/%d/%Y column)."""
    text = str(said)
    for kind, declared in (("DATE", source.date_format), ("TIMESTAMP", source.timestamp_format)):
        if declared and re.search(rf"Could not convert string .* to '{kind}", text):
            return BadInputFile(f"{text}; the source reads {kind.lower()}s as {declared!r} (its {kind.lower()}_format)")
    return said


def _record(conn: duckdb.DuckDBPyConnection, table: str, rows_from: str, files: dict, batch: int,
            code_version: str, full: bool) -> None:
    counts = dict(conn.execute(f"SELECT _source_file, count(*) FROM {rows_from} GROUP BY 1").fetchall())
    if full:
        ledger.forget_files(conn, table)
    ledger.record_files(conn, table, [(f, fp, counts.get(f, 0)) for f, (_, fp) in files.items()], batch)
    ledger.record_layer(conn, table, code_version, batch, full=full)
