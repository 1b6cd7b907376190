"""A declaration from a sample file (`clawdata source add NAME --from FILE --key COL`): column names
and types as DuckDB reads them (its CSV sniffer, or the Parquet or JSON schema), the common null
markers recognised, and the key checked on the file. Dagster-free."""

import codecs
import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from clawdata.sources import declarations
from clawdata.warehouse import files

from clawdata.sources.spec import GZIP_FORMATS, LINEAGE_COLUMNS, Column, FileSourceSpec, reserved_among

# Read as NULL unless told otherwise: a numeric column that says NA stays numeric.
COMMON_NULL_MARKERS = ["", "NA", "N/A", "NULL", "null"]
FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
           ".ndjson": "jsonl", ".json": "jsonl"}
_SHOWN = 5  # offending rows named in an error


class InferenceError(ValueError):
    """The file cannot be declared as asked; the message says what to change."""


@dataclass
class Inferred:
    spec: FileSourceSpec
    rows: int
    notes: list[str]


def infer(name: str, path: Path, key: list[str], order_by: str | None = None,
          null_markers: list[str] | None = None) -> Inferred:
    if path.is_dir():
        raise InferenceError(f"{path} is a folder: name one file of the export (its columns are declared from it)")
    if not path.is_file():
        raise InferenceError(f"{path}: no such file")
    extension = _extension(path)
    file_format = FORMATS.get(extension.removesuffix(".gz"))
    if file_format is None or (extension.endswith(".gz") and file_format not in GZIP_FORMATS):
        readable = sorted({*FORMATS, *(f"{e}.gz" for e, f in FORMATS.items() if f in GZIP_FORMATS)})
        raise InferenceError(f"{path}: unknown format {extension!r}; clawdata reads {', '.join(readable)}")
    if file_format == "jsonl":
        try:
            files.refuse_json_array(path)
        except files.BadInputFile as e:
            raise InferenceError(str(e)) from None
    markers = list(dict.fromkeys([*COMMON_NULL_MARKERS, *(null_markers or [])]))
    notes, decimal = [], {}
    encoding = _encoding(path, notes) if file_format == "csv" else "utf-8"
    relation = _reader(path, file_format, markers, encoding=encoding)
    with duckdb.connect() as conn:
        try:
            columns = conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
            rows = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
        except duckdb.Error as e:
            # Sniffing every row, DuckDB says only that no dialect fits; its sample reads on to the bad line.
            said = _read_error(conn, _reader(path, file_format, markers, encoding=encoding, whole=False)) or e
            raise InferenceError(f"{files.explain_duckdb_error(path, said, encoding=encoding)} (read as {file_format})") from None
        formats = _sniffed_formats(conn, path, markers, encoding) if file_format == "csv" else {}
        if file_format == "csv":
            columns = _without_unnamed_empty_columns(conn, relation, path, formats.get("delimiter") or ",", encoding, columns, notes)
        if rows and formats.get("delimiter"):
            # (fields not split by commas: a comma may then be a decimal one)
            comma = _reader(path, file_format, markers, decimal_separator=",", encoding=encoding)
            if _reads_more_numbers(conn, columns, comma):  # numbers written 12,50: the sniffer leaves them text
                relation, decimal = comma, {"decimal_separator": ","}
                columns = conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        names = [c[0] for c in columns]
        if file_format == "csv":
            _refuse_lines_above_the_header(path, key, formats.get("delimiter") or ",", encoding)
        for wanted, what in ((key, "--key"), ([order_by] if order_by else [], "--updated-at")):
            missing = [c for c in wanted if c not in names]
            if missing and file_format == "csv":
                _refuse_ragged_rows(path, wanted, formats.get("delimiter") or ",", encoding)
            if missing:
                raise InferenceError(f"{path}: {what} names column(s) {', '.join(missing)} that the file lacks "
                                     f"(it has: {', '.join(names)})")
            taken = reserved_among(wanted, LINEAGE_COLUMNS)
            if taken:
                raise InferenceError(f"{path}: {what} names column(s) {', '.join(taken)}, which bronze writes for itself "
                                     f"({', '.join(LINEAGE_COLUMNS)}): rename the column in the files")
        taken = reserved_among(names, LINEAGE_COLUMNS)
        if taken:  # loaded, they would overwrite (or collide with) each row's lineage
            notes.append(f"{', '.join(taken)}: not declared (bronze writes columns of these names for itself: "
                         f"{', '.join(LINEAGE_COLUMNS)}); rename the column in the files to load it")
            columns = [c for c in columns if c[0] not in taken]
        if rows == 0:
            notes.append("the file has a header and no rows: every column is declared VARCHAR; "
                         "give them their types in the declaration before the first delivery")
        else:
            _check_key(conn, relation, path, key, order_by, file_format)
        types = {c[0]: ("VARCHAR" if rows == 0 else c[1]) for c in columns}
        if not rows:  # no values to tell a date format from: the separator alone
            formats = {k: v for k, v in formats.items() if k == "delimiter"}
        undecided = _refuse_to_guess_day_or_month(conn, path, markers, encoding, formats, types, notes) \
            if rows and file_format == "csv" else set()
        text = [c for c, t in types.items() if t == "VARCHAR" and c not in undecided]
        if file_format == "csv" and rows and text and "date_format" not in formats:
            dates, date_notes = _text_dates(conn, relation, text)
            notes.extend(date_notes)
            if len(set(dates.values())) == 1:  # a source has one date format
                formats["date_format"] = next(iter(dates.values()))
                types.update({column: "DATE" for column in dates})
            elif dates:
                notes.append("dates in several formats (" + "; ".join(f"{c}: {f}" for c, f in dates.items())
                             + "): declared VARCHAR; a source has one date_format, convert the others with `expression`")
    sometimes = _keys_some_lines_lack(path, set(types) - set(key)) if file_format == "jsonl" else set()
    if sometimes:  # a later delivery whose lines all lack one would be refused as missing it
        notes.append(f"{', '.join(sorted(sometimes))}: absent from some lines of the file: declared `optional: true`")
    spec = FileSourceSpec(name=name, format=file_format, key=key, order_by=order_by,
                          null_markers=markers if file_format == "csv" else [""], **formats, **decimal,
                          **({"encoding": encoding} if encoding != "utf-8" else {}),
                          columns={c: Column(type=t, optional=True) if c in sometimes else t for c, t in types.items()},
                          files={"inbox": _inbox_patterns(name, extension, file_format), "sample": []})
    return Inferred(spec, rows, notes)


def _keys_some_lines_lack(path: Path, keys: set[str], most: int = 100_000) -> set[str]:
    """The keys of `keys` that some of the file's first `most` JSON lines lack (NULL in those rows)."""
    lacking = set()
    with files.open_delivery(path, "rt", encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines):
            if number >= most or lacking == keys:
                break
            try:
                value = json.loads(line) if line.strip() else None
            except ValueError:
                continue  # (the reader refused such a line before this is asked)
            if isinstance(value, dict):
                lacking |= keys - value.keys()
    return lacking


def _inbox_patterns(name: str, extension: str, file_format: str) -> list[str]:
    """`NAME*.csv` and `NAME*.csv.gz` (for a format that may come gzipped), whichever the sample was."""
    plain = extension.removesuffix(".gz")
    return [f"{name}*{plain}", *([f"{name}*{plain}.gz"] if file_format in GZIP_FORMATS else [])]


def _extension(path: Path) -> str:
    """`.csv`, or `.csv.gz` for a gzipped file (read as its inner format)."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    return "".join(suffixes) if len(suffixes) == 2 and suffixes[1] == ".gz" else path.suffix.lower()


_C1 = re.compile(rb"[\x80-\x9f]")  # Windows-1252's printable bytes, Latin-1's control characters


def _encoding(path: Path, notes: list[str]) -> str:
    """The CSV's encoding, of the three DuckDB reads: UTF-16 by its byte-order mark, UTF-8 if every
    byte decodes as UTF-8, else Latin-1, which DuckDB reads without bytes 0x80-0x9F."""
    def chunks():
        with files.open_delivery(path) as f:
            while chunk := f.read(1 << 20):
                yield chunk

    with files.open_delivery(path) as f:
        if f.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in chunks():
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if any(_C1.search(chunk) for chunk in chunks()):
        raise InferenceError(f"{path}: neither UTF-8 nor Latin-1 text: it has bytes 0x80-0x9F, which Windows-1252 uses "
                             "for the euro sign and curly quotes. DuckDB reads UTF-8, UTF-16 and Latin-1: convert the "
                             "sample and the deliveries to UTF-8 (iconv -f cp1252 -t utf-8)")
    notes.append("the file is not UTF-8: declared `encoding: latin-1`")
    return "latin-1"


def _without_unnamed_empty_columns(conn, relation: str, path: Path, delimiter: str, encoding: str,
                                   columns: list[tuple], notes: list[str]) -> list[tuple]:
    """A header field left empty (a delimiter at the end of every line) over no value is not
    declared: the loader reads such a column as `column<i>` and, undeclared, ignores it."""
    header = files.check_header(path, {}, "csv", delimiter, encoding=encoding).columns
    unnamed = [f"column{i}" for i, name in enumerate(header) if name == f"column{i}"]
    empty = [c for c in unnamed if c in [col[0] for col in columns]
             and conn.execute(f'SELECT count("{c}") FROM {relation}').fetchone()[0] == 0]
    if empty:
        notes.append(f"{', '.join(empty)}: a header field left empty, with no values (a delimiter at the end of "
                     "every line): not declared")
    return [col for col in columns if col[0] not in empty]


def _sniffed_formats(conn: duckdb.DuckDBPyConnection, path: Path, markers: list[str], encoding: str = "utf-8") -> dict:
    """Date and timestamp formats DuckDB's sniffer found that are not ISO 8601 (which needs none),
    and the field separator when it is not a comma."""
    literal = "'" + str(path).replace("'", "''") + "'"
    nulls = ", ".join("'" + m.replace("'", "''") + "'" for m in markers)
    dates, stamps, delimiter = conn.execute(
        f"SELECT DateFormat, TimestampFormat, Delimiter FROM sniff_csv({literal}, nullstr = [{nulls}], "
        f"encoding = '{encoding}', sample_size = -1{files.CSV_LINE_LIMIT})").fetchone()
    return {k: v for k, v in (("date_format", dates), ("timestamp_format", stamps),
                              ("delimiter", delimiter if delimiter != "," else None)) if v}


def _refuse_to_guess_day_or_month(conn, path: Path, markers: list[str], encoding: str, formats: dict,
                                  types: dict[str, str], notes: list[str]) -> set[str]:
    """DuckDB's sniffer picks day first or month first for 03/04/2024 alike: when every value of
    every column it typed that way reads the other way round too, the file does not say which, and a
    guess could swap every date without a word. Those columns are declared VARCHAR, with a note;
    returned, so that nothing else guesses for them."""
    undecided: set[str] = set()
    text = _reader(path, "csv", markers, encoding=encoding, as_text=True)
    for option, kind in (("date_format", "DATE"), ("timestamp_format", "TIMESTAMP")):
        chosen = formats.get(option) or ""
        # (year first, 2024-03-04, is never read year-day-month)
        if "%d" not in chosen or "%m" not in chosen or chosen.find("%Y") < max(chosen.find("%d"), chosen.find("%m")):
            continue
        swapped = chosen.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
        typed = [c for c, t in types.items() if t == kind]
        if not typed:
            continue
        quoted = ['"' + c.replace('"', '""') + '"' for c in typed]
        both = conn.execute("SELECT " + ", ".join(f"coalesce(bool_and(try_strptime({q}, '{swapped}') IS NOT NULL) "
                                                  f"FILTER (WHERE {q} IS NOT NULL), true)" for q in quoted) + f" FROM {text}").fetchone()
        if all(both):
            del formats[option]
            types.update(dict.fromkeys(typed, "VARCHAR"))
            undecided.update(typed)
            notes.append(f"{', '.join(typed)}: every value reads as {chosen} and as {swapped} (no day above 12): declared "
                         f"VARCHAR; set its type to {kind} and {option} in the declaration")
    return undecided


# Dates DuckDB's sniffer leaves as text (month names, day first or month first, dots, slashes).
DATE_FORMATS = ["%b %d %Y", "%d %b %Y", "%B %d %Y", "%d %B %Y", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d",
                "%d-%m-%Y", "%m-%d-%Y"]


def _text_dates(conn: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> tuple[dict[str, str], list[str]]:
    """Each text column whose every value is a date in exactly one of DATE_FORMATS, with that format
    (one scan of the file). A column that several formats read (every day <= 12) gets a note instead."""
    quoted = ['"' + c.replace('"', '""') + '"' for c in columns]
    checks = [f"count({q})" for q in quoted] + [
        f"bool_and(try_strptime({q}, '{f}') IS NOT NULL) FILTER (WHERE {q} IS NOT NULL)" for q in quoted for f in DATE_FORMATS]
    found = conn.execute(f"SELECT {', '.join(checks)} FROM {relation}").fetchone()
    dates, notes = {}, []
    for i, column in enumerate(columns):
        start = len(columns) + i * len(DATE_FORMATS)
        fitting = [f for f, ok in zip(DATE_FORMATS, found[start:start + len(DATE_FORMATS)]) if found[i] and ok]
        if len(fitting) == 1:
            dates[column] = fitting[0]
        elif fitting:
            notes.append(f"{column}: dates in more than one reading ({', '.join(fitting)}): declared VARCHAR; "
                         "set its type to DATE and date_format in the declaration")
    return dates, notes


def _read_error(conn, relation: str) -> duckdb.Error | None:
    try:
        conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
    except duckdb.Error as e:
        return e
    return None


@contextmanager
def _raw_rows(path: Path, delimiter: str, encoding: str) -> Iterator[Iterator[list[str]]]:
    """A CSV's rows as Python's csv module splits them, fields stripped: what a load takes for line 1."""
    with files.open_delivery(path) as f:
        text = io.TextIOWrapper(f, encoding=files.CODECS[encoding], errors="replace", newline="")
        yield ([field.strip() for field in row] for row in csv.reader(text, delimiter=delimiter))


def _refuse_lines_above_the_header(path: Path, key: list[str], delimiter: str, encoding: str) -> None:
    """Every load reads a delivery's header from its first line; DuckDB's sniffer skips lines above it
    (Excel's `sep=;`, a title), so a file it declared was refused by every load."""
    with _raw_rows(path, delimiter, encoding) as rows:
        lines = list(itertools.islice(rows, 20))
    if not lines or (all(k in lines[0] for k in key) and not lines[0][0].lower().startswith("sep=")):
        return
    at = next((i for i, line in enumerate(lines) if all(k in line for k in key)), None)
    if at:
        raise InferenceError(f"{path}: the header is on line {at + 1}, below {delimiter.join(lines[0])[:60]!r}: the exports' "
                             "first line must be their header (remove the line above it, such as Excel's `sep=` line or a title)")


def _refuse_ragged_rows(path: Path, wanted: list[str], delimiter: str, encoding: str) -> None:
    """The header on line 1 names the columns, and DuckDB still found others: a row of another number
    of fields makes its sniffer take a later line for the header. That row is named."""
    with _raw_rows(path, delimiter, encoding) as rows:
        header = next(rows, [])
        if not all(c in header for c in wanted):
            return
        for number, row in enumerate(rows, start=2):
            if row and len(row) != len(header):
                raise InferenceError(f"{path} line {number}: {len(row)} fields where the header has {len(header)} "
                                     f"(line reads: {delimiter.join(row)[:80]!r})")


def _reader(path: Path, file_format: str, markers: list[str], decimal_separator: str = ".", encoding: str = "utf-8",
            as_text: bool = False, whole: bool = True) -> str:
    """`as_text`: a CSV's every column as VARCHAR (its values as written). `whole`: types from every row."""
    literal = "'" + str(path).replace("'", "''") + "'"
    if file_format == "parquet":
        return f"read_parquet({literal})"
    # Types from every row (sample_size -1), not DuckDB's first 20k: a value further down that does not
    # fit a type the first rows suggest would refuse the very file the source was declared from.
    sample = ", sample_size = -1" if whole else ""
    if file_format == "jsonl":
        return f"read_json({literal}, format = 'newline_delimited'{sample})"
    nulls = ", ".join("'" + m.replace("'", "''") + "'" for m in markers)
    decimal = f", decimal_separator = '{decimal_separator}'" if decimal_separator != "." else ""
    text = ", all_varchar = true" if as_text else ""
    return f"read_csv({literal}, header = true, nullstr = [{nulls}]{decimal}{text}, encoding = '{encoding}'{sample}{files.CSV_LINE_LIMIT})"


_NUMBERS = ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT")


def _reads_more_numbers(conn: duckdb.DuckDBPyConnection, columns: list[tuple], comma: str) -> bool:
    """Whether reading with a decimal comma makes numbers of text columns and text of no number
    column (the same columns, its fields still split by another character)."""
    try:
        other = conn.execute(f"DESCRIBE SELECT * FROM {comma}").fetchall()
    except duckdb.Error:
        return False
    if [c[0] for c in other] != [c[0] for c in columns]:
        return False
    numeric = [c[1].startswith(_NUMBERS) for c in columns]
    now = [c[1].startswith(_NUMBERS) for c in other]
    return any(n and not was for n, was in zip(now, numeric)) and not any(was and not n for n, was in zip(now, numeric))


def _check_key(conn, relation: str, path: Path, key: list[str], order_by: str | None, file_format: str) -> None:
    """No row without a key; no key twice (with an ordering column: no key twice at the same time)."""
    line = "row number" if file_format != "csv" else "line"
    offset = 1 if file_format == "csv" else 0  # the CSV header is line 1
    numbered = f"(SELECT *, row_number() OVER () + {offset} AS _line FROM {relation})"
    empty = conn.execute(f"SELECT _line FROM {numbered} WHERE {' OR '.join(f'{chr(34)}{k}{chr(34)} IS NULL' for k in key)} "
                         f"ORDER BY _line LIMIT {_SHOWN}").fetchall()
    if empty:
        raise InferenceError(f"{path}: the key ({', '.join(key)}) is empty on {line} {', '.join(str(r[0]) for r in empty)}; "
                             "a key must identify every row")
    unique = [*key, *([order_by] if order_by else [])]
    group = ", ".join(f'"{c}"' for c in unique)
    twice = conn.execute(f"SELECT {group}, list(_line ORDER BY _line) FROM {numbered} GROUP BY ALL HAVING count(*) > 1 "
                         f"ORDER BY min(_line) LIMIT {_SHOWN}").fetchall()
    if twice:
        shown = "; ".join(f"{', '.join(f'{c}={v}' for c, v in zip(unique, row[:-1]))} on {line}s {', '.join(map(str, row[-1]))}"
                          for row in twice)
        hint = "" if order_by else " (versions of a row? name the column that orders them with --updated-at)"
        raise InferenceError(f"{path}: the key ({', '.join(unique)}) is not unique: {shown}{hint}")


def declaration_yaml(spec: FileSourceSpec, source_file: Path) -> str:
    attributes = spec.model_dump(exclude_defaults=True, exclude={"files"}) | {
        "files": spec.files.model_dump(exclude_none=True)}
    header = (f"# Declared by `clawdata source add` from {source_file} ({spec.format}); edit freely: types, cleaning\n"
              "# (trim, case, regex, expression, computed), required columns, checks, descriptions.\n")
    return header + declarations.declaration_text(declarations.FILE_SOURCE, attributes)
