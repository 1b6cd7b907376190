"""Reading delivered files (CSV, Parquet, JSON lines) into DuckDB, strictly, with errors a user can act on.

Each file is read on its own so that an error names the file; DuckDB's strict CSV parser names the
line. Columns are checked first, before DuckDB reads anything: with explicit types DuckDB maps CSV
columns by position and would silently load a file whose columns were reordered or renamed.
Accepted on purpose: a byte-order mark (stripped), columns in another order, extra columns (read,
then left out of bronze; listed in the materialization's `ignored_columns`), and a header field left
empty (a trailing delimiter on every line): named `column<i>` (its position from 0), as DuckDB names it.
"""

import codecs
import csv
import gzip
import io
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from clawdata.listing import few


# SQL that reads files itself rather than tables: DuckDB's table functions over files, or a file named
# where a table would be (FROM 'exports/*.csv', JOIN "x.parquet", `, 'y.csv'`). What it reads, no
# table shows: a dbt model with such SQL is built at every run (gold/manifest.py), a served view with
# it becomes a table of its rows in the replica (warehouse/replica.py).
READS_FILES = re.compile(
    r"\b(read_\w+|parquet_scan|delta_scan|iceberg_scan|st_read|glob|sniff_csv)\s*\("
    r"|\b(from|join)\s+'[^']+'"
    r"""|(\b(from|join)\s+|,\s*)(?P<q>['"])[^'"]*\.(csv|tsv|parquet|json|jsonl|ndjson)(\.gz)?(?P=q)""",
    re.IGNORECASE)


# The longest CSV line read: DuckDB's default (2 MB) refused a delivery with one long text field (an
# HTML description, a JSON blob), naming an option of its own the user cannot set, and Python's csv
# module stops at a field of 128 KB. Raising DuckDB's cost no memory or time measured (its buffers
# grow with the lines they meet). (Its JSON-lines reader takes a 17 MB line as it is.)
LONGEST_LINE = 64 << 20
CSV_LINE_LIMIT = f", max_line_size = {LONGEST_LINE}"
csv.field_size_limit(LONGEST_LINE)


class BadInputFile(Exception):
    """A delivered file that cannot be loaded. The message names the file and, if known, the line."""


@dataclass
class FileHeader:
    path: Path
    columns: list[str]
    ignored: list[str] = field(default_factory=list)  # columns present but not declared
    absent: list[str] = field(default_factory=list)  # optional columns the file lacks: NULL in its rows
    format: str = "csv"
    delimiter: str = ","  # CSV
    decimal_separator: str = "."  # CSV
    encoding: str = "utf-8"  # CSV: one DuckDB's read_csv knows (utf-8, utf-16, latin-1)


# Python's codec for each encoding DuckDB reads: the header is read here, the rows by DuckDB.
CODECS = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1"}
_NAMES = {"utf-8": "UTF-8", "utf-16": "UTF-16", "latin-1": "Latin-1"}


def open_delivery(path: Path, mode: str = "rb", **kwargs):
    """A delivered file, decompressed when it is gzipped: by its extension, the rule DuckDB reads by."""
    return (gzip.open if path.suffix.lower() == ".gz" else open)(path, mode, **kwargs)


def check_header(path: Path, expected: dict[str, str], file_format: str = "csv", delimiter: str = ",",
                 decimal_separator: str = ".", optional: frozenset[str] = frozenset(), encoding: str = "utf-8") -> FileHeader:
    """The file's columns, checked against the declared ones (`expected`: name -> type; `optional`:
    those a file may lack)."""
    if not path.is_file():
        raise BadInputFile(f"{path}: file not found")
    if not os.access(path, os.R_OK):  # (`docker compose cp` of a mode-600 file: root's alone in the volume)
        raise BadInputFile(f"{path}: not readable by the user runs run as (uid {os.getuid()}): make it readable "
                           "(chmod a+r), then it is taken at the next tick")
    if file_format == "jsonl":
        refuse_json_array(path)
    described = [] if file_format == "csv" else _described_columns(path, file_format)
    names = _csv_header(path, delimiter, encoding) if file_format == "csv" else [n for n, _ in described]
    if file_format == "jsonl" and any(c not in names and c not in optional for c in expected):
        # DuckDB infers JSON keys from the first objects: one that first comes later is still a column.
        names = [n for n, _ in _described_columns(path, file_format, whole_file=True)]
    folded = [n.casefold() for n in names]  # DuckDB's names ignore case: `val` and `Val` are one column
    duplicated = sorted({n for n in names if folded.count(n.casefold()) > 1})
    if duplicated:
        differ = len(set(duplicated)) > len({n.casefold() for n in duplicated})
        raise BadInputFile(f"{path} line 1: duplicated column(s) {', '.join(duplicated)}"
                           + (" (names that differ only in case are one column in DuckDB: rename one in the files)"
                              if differ else ""))
    missing = [c for c in expected if c not in names and c not in optional]
    if missing:
        where = f"{path} line 1" if file_format == "csv" else str(path)
        other = next((d for d in ";,\t|" if d != delimiter and len(names) == 1 and d in names[0]), None)
        hint = f" (its header is one column holding {other!r}: set the source's `delimiter`)" if other else ""
        if file_format == "csv" and names and names[0].lower().startswith("sep="):  # Excel's line, above the header
            raise BadInputFile(f"{where}: Excel's {names[0]!r} line comes before the header; the first line must be "
                               "the header: export without it (or remove that line)")
        extra = [n for n in names if n not in expected]
        cased = {m: n for m in missing for n in extra if n.casefold() == m.casefold()}
        if cased:  # (the export's header changed case: said as such, not as columns lost)
            hint += (f" (in another case: {', '.join(f'{m} is {n} in the file' for m, n in cased.items())}; "
                     "rename it in the files or in the declaration)")
        raise BadInputFile(f"{where}: missing column(s) {few(missing)}; " + (
            f"expected {', '.join(expected)}; found {', '.join(names)}" if len(expected) + len(names) <= 40 else
            f"{len(names)} found of {len(expected)} declared" + (f", and not declared: {few(extra)}" if extra else ""))
            + hint + ("" if other or len(cased) == len(missing) else " (a column some files lack is declared `optional: true`)"))
    if file_format == "parquet":
        _refuse_lossy_casts(path, {c: t for c, t in expected.items() if c in names}, dict(described))
    ignored = [n for n in names if n not in expected] + _undeclared_fields(path, file_format, expected)
    absent = [c for c in expected if c not in names]
    return FileHeader(path, names, ignored, absent, file_format, delimiter, decimal_separator, encoding)


_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL"}
_TEMPORAL = {"DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE", "TIME"}


def _refuse_lossy_casts(path: Path, declared: dict[str, str], found: dict[str, str]) -> None:
    """A Parquet file carries its own types, cast to the declared ones at load; DuckDB rounds such a
    cast without a word (DECIMAL(12,4) to DECIMAL(10,2), DOUBLE to BIGINT, a timestamp to a DATE).
    A number or time whose value the cast would change refuses the file, naming the column and a
    value (a value out of the declared range already fails the load). Only columns whose type differs
    are read. `found`: the file's types, as DESCRIBE says them."""
    reader = _reader(path, "parquet")
    with duckdb.connect() as conn:
        for column, wanted in declared.items():
            have = found[column]
            want = conn.execute(f"SELECT typeof(NULL::{wanted})").fetchone()[0]
            kinds = {t.split("(")[0] for t in (have, want)}
            if have == want or not (kinds <= _NUMERIC or kinds <= _TEMPORAL):
                continue
            c = _ident(column)
            cast = f"TRY_CAST({c} AS {want})"
            changed, example = conn.execute(
                f"SELECT count(*), any_value({c}::VARCHAR || ' becomes ' || {cast}::VARCHAR) FROM {reader} "
                f"WHERE {cast} IS NOT NULL AND CAST({cast} AS {have}) IS DISTINCT FROM {c}").fetchone()
            if changed:
                raise BadInputFile(f"{path}: column {column} is {have} in the file and declared {want}: the cast would "
                                   f"change {changed:,} value{'s' if changed > 1 else ''} (e.g. {example}); declare it {have} to keep them")


def _undeclared_fields(path: Path, file_format: str, expected: dict[str, str]) -> list[str]:
    """Fields of a declared STRUCT column that the file has and the declaration lacks, at any depth
    (`addr.country`, `meta.geo.alt`): the cast to the declared type leaves them out, so they are
    listed as ignored, as columns are; in a list of structs too (`items[].qty`)."""
    structs = [c for c, t in expected.items() if t.strip().upper().startswith("STRUCT")]
    if file_format == "csv" or not structs:
        return []
    reader = _reader(path, file_format)
    if file_format == "jsonl":  # a field that first comes late in the file is one too
        reader = reader[:-1] + ", sample_size = -1)"
    extra: list[str] = []
    with duckdb.connect() as conn:
        def fields(expression: str, relation: str) -> dict[str, tuple[str, str]]:  # lower name -> (name, type)
            described = conn.execute(f"DESCRIBE SELECT unnest({expression}) FROM {relation}").fetchall()  # a struct's fields
            return {name.lower(): (name, type_) for name, type_, *_ in described}  # DuckDB casts by name, any case

        def walk(found_at: str, declared_at: str, label: str) -> None:
            declared = fields(declared_at, "declared")
            for key, (name, type_) in fields(found_at, reader).items():
                if key not in declared:
                    extra.append(f"{label}.{name}")
                else:  # parenthesized: `"meta"."geo"` would read as table meta's column geo
                    into(type_, declared[key][1], f"({found_at}).{_ident(name)}", f"({declared_at}).{_ident(declared[key][0])}",
                         f"{label}.{name}")

        def into(found_type: str, declared_type: str, found_at: str, declared_at: str, label: str) -> None:
            """A struct's fields, or those of a list's structs (`items[].qty`: its first element's type)."""
            kind = _nested(found_type)
            if kind and kind == _nested(declared_type):
                walk(*((found_at, declared_at, label) if kind == "struct" else (f"{found_at}[1]", f"{declared_at}[1]", f"{label}[]")))

        in_file = dict(conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {reader})").fetchall())
        for column in structs:  # (not a struct in the file: the load says so, naming it)
            conn.execute(f"CREATE OR REPLACE TEMP TABLE declared AS SELECT NULL::{expected[column]} AS s")
            into(in_file.get(column, ""), expected[column].strip().upper(), _ident(column), "s", column)
    return extra


def _nested(type_: str) -> str | None:
    """"struct" for a STRUCT, "list" for a list of them (`STRUCT(sku VARCHAR)[]`, which starts alike)."""
    if not type_.startswith("STRUCT"):
        return None
    return "list" if type_.endswith("[]") and not type_.endswith("[][]") else "struct" if type_.endswith(")") else None


def _csv_header(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> list[str]:
    if encoding == "latin-1":
        _refuse_utf8_as_latin1(path)
    with open_delivery(path) as f:
        # Undecodable bytes replaced: one in a later line is DuckDB's to name, with its line.
        text = io.TextIOWrapper(f, encoding=CODECS[encoding], errors="replace", newline="")
        try:
            header = next(csv.reader(text, delimiter=delimiter), None)
        except csv.Error as e:
            raise BadInputFile(f"{path} line 1: unreadable header ({e})") from None
        except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
            raise BadInputFile(f"{path}: not a readable gzip file ({e})") from None
    if not header:
        raise BadInputFile(f"{path}: file is empty (no header line)")
    undecodable = [h for h in header if "\ufffd" in h]  # the replacement character
    if undecodable:
        other = "latin-1" if encoding != "latin-1" else "utf-8"
        fix = _SAVE_FROM_1252 if encoding == "utf-8" and _windows_1252(path) else \
            f"set the source's `encoding` ({other}?) or save the file as {_NAMES[encoding]}"
        raise BadInputFile(f"{path} line 1: the header is not {_NAMES[encoding]} text ({', '.join(undecodable)}); {fix}")
    return [h.strip() or f"column{i}" for i, h in enumerate(header)]


def refuse_json_array(path: Path) -> None:
    """A JSON array (`[{...}, {...}]`) read as JSON lines is one row of one column `json`: said as
    such, with the conversion, rather than as columns the file lacks."""
    try:
        with open_delivery(path) as f:
            start = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (OSError, EOFError):
        return  # not a readable gzip file: the reading says so
    if start.startswith(b"["):
        raise BadInputFile(f"{path}: a JSON array; clawdata reads JSON lines, one object per line "
                           f"(convert it into another file: jq -c '.[]' {shlex.quote(path.name)} > {shlex.quote('lines_' + path.name.removesuffix('.gz'))})")


def _refuse_utf8_as_latin1(path: Path, most: int = 4 << 20, window: int = 1 << 20) -> None:
    """Latin-1 reads any byte: a UTF-8 delivery to a Latin-1 source would load garbled (Genève as
    GenÃ¨ve), without an error. A file that starts with UTF-8's byte order mark, or whose bytes beyond
    ASCII read as UTF-8 (which Latin-1 text with such letters almost never does), is refused. Judged
    on 1 MB from the first byte beyond ASCII, searched for in the first 4 MB: every run checks every
    file of the source, so a file is read no further than its first such letters (a file ASCII that
    far is taken: a guard against the likely mistake, not a proof)."""
    fix = ("deliver it in Latin-1 like the others (iconv -f utf-8 -t latin1), or, if the exports are UTF-8 "
           "from now on, remove `encoding: latin-1` from the source's declaration")
    try:
        with open_delivery(path) as f:
            chunk, offset = f.read(window), 0
            if chunk.startswith(codecs.BOM_UTF8):
                raise BadInputFile(f"{path}: UTF-8 text (it starts with UTF-8's byte order mark) in a source "
                                   f"declared `encoding: latin-1`; {fix}")
            while (first := _BEYOND_ASCII.search(chunk)) is None:
                offset += len(chunk)
                if not chunk or offset >= most:
                    return  # ASCII: the same text either way
                chunk = f.read(window)
            text = chunk[first.start():] + f.read(first.start())  # a window's worth from that byte on
    except (OSError, EOFError):
        return  # not a readable gzip file: the header's reading says so
    try:  # (a letter the window cut waits for more; at the file's end, a lone byte is Latin-1's)
        codecs.getincrementaldecoder("utf-8")().decode(text, final=len(text) < window)
    except UnicodeDecodeError:
        return  # Latin-1, as declared
    line_start = chunk.rfind(b"\n", 0, first.start()) + 1
    line = (chunk[line_start:first.start()] + text.split(b"\n", 1)[0]).decode("utf-8", "replace").strip()
    number = chunk.count(b"\n", 0, line_start) + 1
    raise BadInputFile(f"{path}{f' line {number}' if offset == 0 else ''}: UTF-8 text ({line[:80]!r}) in a source "
                       f"declared `encoding: latin-1`, whose letters beyond ASCII would load garbled; {fix}")


_BEYOND_ASCII = re.compile(rb"[\x80-\xff]")


def _described_columns(path: Path, file_format: str, whole_file: bool = False) -> list[tuple[str, str]]:
    """(name, type) of each column, in the file's order, as DuckDB reads it."""
    reader = _reader(path, file_format)
    if whole_file:  # JSON: every object's keys, not those of the first ones DuckDB samples
        reader = reader[:-1] + ", sample_size = -1)"
    try:
        with duckdb.connect() as conn:
            return [(row[0], row[1]) for row in conn.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    except duckdb.Error as e:
        if file_format == "jsonl" and "Malformed JSON" in str(e):  # its line, as the load names it
            raise explain_duckdb_error(path, e) from None
        raise BadInputFile(f"{path}: not a readable {file_format} file ({str(e).splitlines()[0]})") from None


def _reader(path: Path, file_format: str, columns: dict[str, str] | None = None) -> str:
    if file_format == "parquet":
        return f"read_parquet({_literal(str(path))})"
    typed = f", columns = {{{', '.join(f'{_literal(n)}: {_literal(t)}' for n, t in columns.items())}}}" if columns else ""
    return f"read_json({_literal(str(path))}, format = 'newline_delimited'{typed})"


def select_file_sql(header: FileHeader, expected: dict[str, str], null_markers: list[str] | None = None,
                    date_format: str | None = None, timestamp_format: str | None = None, keep_going: bool = False) -> str:
    """A SELECT that reads one checked file with the declared types, in the declared order, plus
    `_source_file` and `_row` (its rows' order in the file: the later of two versions of a key wins
    where the declared order says nothing, with or without an `order_by`). `keep_going`: a CSV's bad
    lines are skipped and kept in DuckDB's `reject_errors` (other_bad_lines)."""
    wide = {c: w for c in expected if c not in header.absent and header.format != "parquet" and (w := _wide_read(expected[c]))}
    wanted = ", ".join(f"CAST(NULL AS {expected[c]}) AS {_ident(c)}" if c in header.absent else
                       _exact(c, expected[c], wide[c], keep_going) if c in wide else _cast(c, expected[c], header.format)
                       for c in expected)
    if header.format == "csv":
        types = {name: wide.get(name) or expected.get(name, "VARCHAR") for name in header.columns}
        columns = ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in types.items())
        nulls = ", ".join(_literal(m) for m in (null_markers if null_markers is not None else [""]))
        source = (f"read_csv({_literal(str(header.path))}, header = true, auto_detect = false, "
                  f"columns = {{{columns}}}, delim = {_literal(header.delimiter)}, quote = '\"', escape = '\"', strict_mode = true{CSV_LINE_LIMIT}, "
                  f"nullstr = [{nulls}]{_format('dateformat', date_format)}{_format('timestampformat', timestamp_format)}"
                  f"{_format('decimal_separator', header.decimal_separator if header.decimal_separator != '.' else None)}"
                  f"{_format('encoding', header.encoding if header.encoding != 'utf-8' else None)}"
                  f"{', ignore_errors = true, store_rejects = true' if keep_going else ''})")
    else:
        source = _reader(header.path, header.format, {n: wide.get(n) or expected.get(n, "VARCHAR") for n in header.columns}
                         if header.format == "jsonl" else None)
    # (the row's number under a name no file's column has, as _exact's error reads it)
    return (f"SELECT {wanted}, {_literal(str(header.path))} AS _source_file, {_ROW} AS _row "
            f"FROM (SELECT *, row_number() OVER () AS {_ROW} FROM {source}){_no_header_again(header, types if header.format == 'csv' else {}, keep_going)}")


def _no_header_again(header: FileHeader, read_as: dict[str, str], keep_going: bool) -> str:
    """A WHERE that stops the read at a line repeating the header (files joined with their headers),
    where every column is read as text: a typed column's reader refuses that line by itself
    (explain_duckdb_error says which it is)."""
    if header.format != "csv" or keep_going or any(t.upper() not in ("VARCHAR", "TEXT", "STRING") for t in read_as.values()):
        return ""
    same = " AND ".join(f"{_ident(n)} IS NOT DISTINCT FROM {_literal(n)}" for n in header.columns)
    return f" WHERE CASE WHEN {same} THEN error(printf('{_LOSSY} %d, {_HEADER_AGAIN}', {_ROW})) ELSE true END"


_HEADER_AGAIN = "the header line again (files joined together with their headers?): remove it"


_ROW = "__clawdata_row"
_INTEGERS = {"TINYINT": 3, "INT1": 3, "UTINYINT": 3, "SMALLINT": 5, "INT2": 5, "SHORT": 5, "USMALLINT": 5,
             "INTEGER": 10, "INT": 10, "INT4": 10, "SIGNED": 10, "UINTEGER": 10,
             "BIGINT": 20, "INT8": 20, "LONG": 20, "UBIGINT": 20}  # digits of the largest value


def _wide_read(declared: str) -> str | None:
    """The type a whole-number or DECIMAL column of a CSV or JSON-lines file is read as, so that
    `_exact` sees a value the declared type would round: DuckDB rounds text it reads into a number
    (`2.5` into an INTEGER is 3, `19.005` into DECIMAL(12,2) 19.01), a key included, and the file
    loaded without a word (Parquet's casts: `_refuse_lossy_casts`). A DECIMAL with room for more
    decimals, of 18 digits where it fits (a wider one is DuckDB's 128-bit arithmetic: 4x the read of
    a million rows); a BIGINT as its text (no 18-digit DECIMAL holds it). None: read as declared (a
    HUGEINT, a DECIMAL of 38 digits: no wider DECIMAL holds them)."""
    bare = declared.strip().upper()
    if bare in _INTEGERS:
        return "DECIMAL(18,8)" if _INTEGERS[bare] <= 10 else "VARCHAR"
    found = re.fullmatch(r"(?:DECIMAL|NUMERIC)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?", bare)
    if not found:
        return None
    precision, scale = int(found.group(1) or 18), int(found.group(2) or (3 if not found.group(1) else 0))
    more = 18 - precision if precision < 18 else min(9, 38 - precision)
    return f"DECIMAL({precision + more},{scale + more})" if more > 0 else None


def _exact(name: str, declared: str, read_as: str, keep_going: bool = False) -> str:
    """The column, read as `_wide_read` says, as its declared type; a value that type would change (a
    fraction in a whole number, more decimals than declared, too large) stops the read with its row's
    number, which `explain_duckdb_error` turns into the file's line; so does a BIGINT's text that is
    no number (the reader refuses the others). `keep_going` (other_bad_lines' pass): no stop, the
    message in a column of its own (`_BAD`) instead."""
    column, cast = _ident(name), f"TRY_CAST({_ident(name)} AS {declared})"
    becomes = f"CASE WHEN {cast} IS NULL THEN 'does not fit it' ELSE 'would load as ' || {cast}::VARCHAR END"

    def said(what: str, *values: str) -> str:
        return f"printf('{_LOSSY} %d, column %s (declared %s): {what}', {_ROW}, {_literal(name)}, {_literal(declared)}, {', '.join(values)})"

    if read_as == "VARCHAR":  # a whole number's text: only one with a point may be rounded
        blank = f"{column} IS NULL OR trim({column}) = ''"
        rounded = f"contains({column}, '.') AND TRY_CAST({column} AS DECIMAL(38,9)) IS DISTINCT FROM {cast}"
        no_number = said('Could not convert string "%s" to %s', column, _literal(declared))
        why = (f"CASE WHEN {cast} IS NULL THEN {no_number} "
               f"ELSE {said('%s %s', column, becomes)} END")
        bad, value = f"NOT ({blank}) AND ({cast} IS NULL OR {rounded})", f"CASE WHEN {blank} THEN NULL ELSE {cast} END"
    else:  # the wide read's trailing zeros off: the file's value
        bad, value = f"{column} IS NOT NULL AND {cast} IS DISTINCT FROM {column}", cast
        why = said("%s %s", f"rtrim(rtrim({column}::VARCHAR, '0'), '.')", becomes)
    if keep_going:
        return f"{value} AS {column}, CASE WHEN {bad} THEN {why} END AS {_ident(_BAD + name)}"
    return f"CASE WHEN {bad} THEN error({why}) ELSE {value} END AS {column}"


_BAD = "__clawdata_bad_"
_LOSSY = "clawdata: record"  # _exact's error, as explain_duckdb_error finds it


def no_file_sql(expected: dict[str, str]) -> str:
    """What select_file_sql gives for no file at all: its columns and types, no row (a declared
    source before its first delivery)."""
    wanted = ", ".join(f"CAST(NULL AS {t}) AS {_ident(c)}" for c, t in expected.items())
    return f"SELECT {wanted}, CAST(NULL AS VARCHAR) AS _source_file, CAST(NULL AS BIGINT) AS _row LIMIT 0"


def _format(option: str, value: str | None) -> str:
    return f", {option} = {_literal(value)}" if value else ""  # unset: DuckDB's ISO 8601 parsing


def _cast(name: str, type_: str, file_format: str) -> str:
    # CSV and JSON lines are read with the declared types; Parquet carries its own, cast here.
    return _ident(name) if file_format != "parquet" else f"CAST({_ident(name)} AS {type_}) AS {_ident(name)}"


_SAVE_FROM_1252 = "save the file as UTF-8 (from Windows-1252: iconv -f cp1252 -t utf-8)"


def _windows_1252(path: Path, most: int = 64 << 20) -> bool:
    """Whether the bytes of a file that are not UTF-8 include 0x80-0x9F (Windows-1252's € “ ” – and
    the like), which DuckDB's latin-1 refuses as well (read on a failure only, its first 64 MB). The
    UTF-8 characters of a file that mixes both (’ is E2 80 99) do not count."""
    with open_delivery(path) as f:
        data = f.read(most)
    if len(data) == most:
        data = data[:-3]  # a character the read cut in two is not a bad byte
    undecodable = data.decode("utf-8", "surrogateescape")
    return re.search("[\udc80-\udc9f]", undecodable) is not None


def explain_duckdb_error(path: Path, error: duckdb.Error, delimiter: str = ",", encoding: str = "utf-8",
                         file_format: str = "csv", declared: dict[str, str] | None = None) -> BadInputFile:
    """Turn DuckDB's long error into one line: file, line, what is wrong, the offending line.
    `declared`: the columns' types, named where DuckDB names the type a column is read as."""
    text = str(error)
    converting = re.search(r'Error when converting column "(.+?)"\. Could not convert string .*? to \'(DECIMAL[^\']*)\'', text)
    if converting and declared and _wide_read(declared.get(converting.group(1), "")):  # read wide: say the declared type
        text = text.replace(f"'{converting.group(2)}'", f"'{declared[converting.group(1)]}'", 1)
    lossy = re.search(rf"{_LOSSY} (\d+), ((?:column|{_HEADER_AGAIN[:15]}).*)", text)
    if lossy:  # _exact's: its row's number, the header's line and a CSV's quoted line breaks counted
        row = int(lossy.group(1))
        line = _physical_line(path, row + 1, delimiter, encoding) if file_format == "csv" else row
        return BadInputFile(f"{path} line {line}: {lossy.group(2).strip()}")
    if "Malformed JSON" in text and (found := _malformed_json_lines(path)):  # DuckDB's line number is one too far
        (number, content), others = found[0], [n for n, _ in found[1:]]
        reason = re.search(r"in line \d+: ([^\n]*)", text)
        also = (f"; malformed too: line{'s' if len(others) > 1 else ''} {', '.join(map(str, others[:5]))}"
                + (" and more" if len(others) > 5 else "")) if others else ""
        return BadInputFile(f"{path} line {number}: malformed JSON ({(reason.group(1) if reason else 'unreadable').strip().rstrip('.')})"
                            f" (line reads: {content[:120]!r}){also}")
    if "state machine reached an invalid state" in text and (mixed := _mixed_line_ending(path, encoding)):
        number, ending, first = mixed
        return BadInputFile(f"{path} line {number}: its line ends in {ending} where line 1's ends in {first} (files "
                            "joined together?): give every line one ending (dos2unix, or unix2dos)")
    line = re.search(r"CSV Error on Line: (\d+)", text)
    json_line = re.search(_JSON_WHERE, text)
    original = re.search(r"Original Line: (.*?)\n", text)
    reason = _first_reason(text)
    where = f"{path} line {_physical_line(path, int(line.group(1)), delimiter, encoding)}" if line else str(path)
    if json_line:  # DuckDB's own word (line, object) and number, approximate when it says so
        approximate = " (DuckDB's number, approximate)" if _JSON_APPROXIMATE in text else ""
        where = f"{path} {json_line.group(1)} {json_line.group(2)}{approximate}"
    if line and original and file_format == "csv" and reason.startswith("Error when converting column"):
        # DuckDB converts a line's fields before it counts them: a line cut short (4 fields of 8) was
        # said as its third field's value not being a date.
        fields, width = _width(original.group(1), delimiter), _header_width(path, delimiter, encoding)
        if fields and width and fields != width and '"' not in original.group(1):
            reason = f"{fields} fields where the header has {width}"
        elif _is_header(original.group(1), path, delimiter, encoding):
            reason = _HEADER_AGAIN
    shown = f" (line reads: {original.group(1)[:120]!r})" if original and original.group(1).strip() else ""
    if "not latin-1 encoded" in reason or ("not utf-8 encoded" in reason and _windows_1252(path)):
        shown += f"; {_SAVE_FROM_1252}"  # latin-1 would refuse it too: the hint that works, at once
        if encoding != "utf-8":  # (converted, it is refused as UTF-8 text in a latin-1 source)
            shown += ", and remove the source's `encoding: latin-1`"
    elif "not utf-8 encoded" in reason:
        shown += "; set the source's `encoding` (latin-1 or utf-16), or save the file as UTF-8"
    return BadInputFile(f"{where}: {reason}{shown}")


def _width(line: str, delimiter: str) -> int:
    return len(next(csv.reader([line], delimiter=delimiter), []))


def _is_header(line: str, path: Path, delimiter: str, encoding: str) -> bool:
    return next(csv.reader([line], delimiter=delimiter), []) == _header_or_none(path, delimiter, encoding)


def _header_width(path: Path, delimiter: str, encoding: str) -> int | None:
    header = _header_or_none(path, delimiter, encoding)
    return len(header) if header is not None else None


def _header_or_none(path: Path, delimiter: str, encoding: str) -> list[str] | None:
    try:
        return _csv_header(path, delimiter, encoding)
    except BadInputFile:  # (the load read it already: here only on an error's path)
        return None


def other_bad_lines(header: FileHeader, read_keeping_going: str, said: BadInputFile, most: int = 5) -> BadInputFile:
    """`said` (a CSV's first bad line) with the file's other bad lines, read in one more pass that keeps
    going (DuckDB's rejects), in a database of its own (the warehouse's transaction is aborted): a
    delivery with several was refused one line per run, each fix costing a delivery. The first
    stays as explain_duckdb_error says it (its hints); the others in DuckDB's words, each by the
    file's line, as the first is (`reject_errors.line` counts records)."""
    first = re.search(r" line (\d+):", str(said))
    try:
        with duckdb.connect() as scratch:
            scratch.execute(f"SELECT count(hash(t)) FROM ({read_keeping_going}) AS t").fetchall()  # every column: casts too
            rows = scratch.execute("SELECT line, error_message FROM reject_errors ORDER BY line, error_message").fetchall()
            rows += _numbers_rounded(scratch, read_keeping_going, [line for line, _ in rows])
    except duckdb.Error:  # nothing more to say than the first
        return said
    lines = _physical_lines(header.path, {line for line, _ in rows}, header.delimiter, header.encoding)
    # One message a line, the first (DuckDB rejects a short line once for each field it lacks: line 17
    # was listed four times, and the count said 7 more for 3), in the file's order.
    firsts: dict[int, str] = {}
    for line, message in rows:
        if not first or lines[line] != int(first.group(1)):
            firsts.setdefault(lines[line], message.strip().splitlines()[0])
    others = sorted(firsts.items())
    if not others:
        return said
    listed = "; ".join(f"line {line}: {message}" for line, message in others[:most])
    return BadInputFile(f"{said}; {len(others)} more bad line(s): {listed}" + (" ..." if len(others) > most else ""))


def _numbers_rounded(scratch: duckdb.DuckDBPyConnection, read_keeping_going: str, rejected: list[int],
                     most: int = 50) -> list[tuple[int, str]]:
    """(record, message) of the rows whose numbers `_exact` refuses, as reject_errors has the reader's.
    `_exact` numbers the rows read: the records the reader `rejected` before one are not among them
    (a line with a bad date above put a rounded number one line too early)."""
    if _BAD not in read_keeping_going:
        return []
    # Every column read (hash of the row), as the pass that filled reject_errors read them: a line the
    # reader rejects for a column this query would not read otherwise is skipped here too.
    found = scratch.execute(f"SELECT said FROM (SELECT coalesce(*COLUMNS('^{_BAD}')) AS said, hash(t) AS whole "
                            f"FROM ({read_keeping_going}) AS t) WHERE said IS NOT NULL AND whole IS NOT NULL "
                            f"LIMIT {most}").fetchall()
    skipped = sorted(set(rejected))

    def record(row: int) -> int:  # the header is record 1
        found = row + 1
        for other in skipped:
            if other > found:
                break
            found += 1
        return found

    return [(record(int(m.group(1))), m.group(2)) for (text,) in found if (m := re.match(rf"{_LOSSY} (\d+), (.*)", text))]


def name_the_json_column(header: FileHeader, expected: dict[str, str], said: BadInputFile) -> BadInputFile:
    """`said` (a JSON line's cast error: DuckDB names the value, not its key) with the key whose value
    fails: that line's keys cast one at a time by `json_transform_strict`, the transform read_json
    applies with declared columns. Where DuckDB's line number is approximate, `said` as it is."""
    found = re.match(rf"({re.escape(str(header.path))} line (\d+)): (.*)", str(said), re.DOTALL)
    if header.format != "jsonl" or not found or found.group(3).startswith("column "):  # (_exact's names it)
        return said
    with open_delivery(header.path, "rt", encoding="utf-8", errors="replace") as lines:
        line = next((text for number, text in enumerate(lines, 1) if number == int(found.group(2))), None)
    try:
        keys = json.loads(line) if line and line.strip() else None
    except ValueError:
        keys = None
    if not isinstance(keys, dict):
        return said
    with duckdb.connect() as scratch:
        # (a key the line lacks fails the strict transform too: it is NULL in the row, not the cause)
        for name in (n for n in header.columns if n not in header.absent and n in keys):
            type_ = expected.get(name, "VARCHAR")
            try:
                scratch.execute("SELECT json_transform_strict(?, ?)", [line, json.dumps({name: type_})]).fetchall()
            except duckdb.Error:
                reason = found.group(3)
                if _wide_read(type_):  # read as a DECIMAL (_wide_read): DuckDB's "to decimal" would name that
                    reason = re.sub(r"^Failed to cast value to (?:decimal|numerical): ", "not a number: ", reason)
                return BadInputFile(f"{found.group(1)}: column {name} (declared {type_}): {reason}")
    return said


def _physical_line(path: Path, record: int, delimiter: str, encoding: str = "utf-8") -> int:
    return _physical_lines(path, {record}, delimiter, encoding)[record]


def _physical_lines(path: Path, records: set[int], delimiter: str, encoding: str = "utf-8",
                    most: int = 1_000_000) -> dict[int, int]:
    """The line of the file where each CSV record of `records` starts, in one pass (DuckDB counts
    records, the header first: a quoted field over several lines puts the two apart). Records beyond
    `most` are not counted again (an error path that would read the file a second time): DuckDB's
    number stands, as it does for all of them if the file cannot be read again."""
    found = {record: record for record in records}
    try:
        with open_delivery(path, "rt", newline="", errors="replace", encoding=CODECS.get(encoding, "utf-8")) as f:
            reader, read = csv.reader(f, delimiter=delimiter), 1  # records read, and the next one's number
            for record in sorted(r for r in records if r and r <= most):
                while read < record and next(reader, None) is not None:
                    read += 1
                if read < record:  # the file ended first
                    break
                found[record] = reader.line_num + 1
    except (OSError, EOFError, csv.Error):
        return {record: record for record in records}
    return found


def _mixed_line_ending(path: Path, encoding: str = "utf-8", most: int = 1_000_000) -> tuple[int, str, str] | None:
    """(line, its ending, the first line's) where a file's line endings change (LF and CRLF mixed),
    within its first `most` lines: DuckDB's reader then says only that it reached an invalid state."""
    names = {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}
    try:
        with open_delivery(path, "rt", newline="", errors="replace", encoding=CODECS.get(encoding, "utf-8")) as f:
            first = None
            for number, line in enumerate(f, 1):
                if number > most:
                    return None
                ending = next((e for e in ("\r\n", "\n", "\r") if line.endswith(e)), None)
                if ending is None:  # the last line, unended
                    return None
                first = first or ending
                if ending != first:
                    return number, names[ending], names[first]
    except (OSError, EOFError):
        pass
    return None


def _malformed_json_lines(path: Path, most: int = 1_000_000, found_most: int = 7) -> list[tuple[int, str]]:
    """The lines of a JSON lines file that are no JSON value (up to `found_most`), within its first
    `most` lines: all of them said at once, where DuckDB stops at the first (a fix per run)."""
    found = []
    try:
        with open_delivery(path, "rt", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if number > most or len(found) == found_most:
                    break
                if line.strip():
                    try:
                        json.loads(line)
                    except ValueError:
                        found.append((number, line.rstrip("\n")))
    except (OSError, EOFError):
        pass
    return found


_JSON_WHERE = r'JSON transform error in file ".*?", in (\w+) (\d+): '
_JSON_APPROXIMATE = "line/object number information is approximate"


def _first_reason(text: str) -> str:
    # DuckDB's message: a title line, "Original Line: ...", the reason, then "Possible fixes/solutions";
    # for Parquet and JSON, the reason then the query's text with a caret line under it, or hints
    # (JSON's: "If this error occurred during read_json, line/object number ...", "Try setting ...").
    body = text.split("Possible")[0]
    lines = [l.strip() for l in body.splitlines() if l.strip()]
    lines = [l for l in lines if not l.startswith(("Original Line", "Column ", "This type", "LINE ", "Try ", "If this error"))
             and l.strip("^ ")]
    reason = lines[-1] if lines else text.splitlines()[0]
    return re.sub(rf"^.*?(CSV Error on Line: \d+\s*|{_JSON_WHERE})", "", reason) or reason  # the place: said before it


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
