"""Reading delivered CSV files into DuckDB, strictly, with errors a user can act on.

Each file is read on its own so that an error names the file; DuckDB's strict parser names the line.
Headers are checked here, before DuckDB reads anything, because with explicit column types DuckDB
maps columns by position and would silently load a file whose columns were reordered or renamed.
"""

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb


class BadInputFile(Exception):
    """A delivered file that cannot be loaded. The message names the file and, if known, the line."""


@dataclass
class FileHeader:
    path: Path
    columns: list[str]
    ignored: list[str] = field(default_factory=list)  # columns present but not in the contract


def check_header(path: Path, expected: dict[str, str]) -> FileHeader:
    """Validate the header line. Accepted on purpose: a UTF-8 byte-order mark (stripped), columns in
    any order, and extra columns (loaded as text, then left out of bronze; listed in the metadata)."""
    if not path.is_file():
        raise BadInputFile(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        try:
            header = next(csv.reader(f), None)
        except (csv.Error, UnicodeDecodeError) as e:
            raise BadInputFile(f"{path} line 1: unreadable header ({e})") from None
    if not header:
        raise BadInputFile(f"{path}: file is empty (no header line)")
    names = [h.strip() for h in header]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise BadInputFile(f"{path} line 1: duplicated column(s) {', '.join(duplicated)}")
    missing = [c for c in expected if c not in names]
    if missing:
        raise BadInputFile(
            f"{path} line 1: missing column(s) {', '.join(missing)}; expected {', '.join(expected)}"
        )
    return FileHeader(path, names, [n for n in names if n not in expected])


def select_file_sql(header: FileHeader, expected: dict[str, str]) -> str:
    """A SELECT that reads one checked file with the contract's types, in the contract's column order."""
    types = {name: expected.get(name, "VARCHAR") for name in header.columns}
    columns = ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in types.items())
    wanted = ", ".join(_ident(c) for c in expected)
    return (
        f"SELECT {wanted}, {_literal(str(header.path))} AS _source_file "
        f"FROM read_csv({_literal(str(header.path))}, header = true, auto_detect = false, "
        f"columns = {{{columns}}}, delim = ',', quote = '\"', escape = '\"', strict_mode = true, "
        f"dateformat = '%Y-%m-%d', timestampformat = '%Y-%m-%d %H:%M:%S')"
    )


def explain_duckdb_error(path: Path, error: duckdb.Error) -> BadInputFile:
    """Turn DuckDB's long CSV error into one line: file, line, what is wrong, the offending line."""
    text = str(error)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    original = re.search(r"Original Line: (.*?)\n", text)
    reason = _first_reason(text)
    where = f"{path} line {line.group(1)}" if line else str(path)
    shown = f" (line reads: {original.group(1)[:120]!r})" if original else ""
    return BadInputFile(f"{where}: {reason}{shown}")


def _first_reason(text: str) -> str:
    # DuckDB's message: a title line, "Original Line: ...", the reason, then "Possible fixes/solutions".
    body = text.split("Possible")[0]
    lines = [l.strip() for l in body.splitlines() if l.strip()]
    lines = [l for l in lines if not l.startswith(("Original Line", "Column ", "This type"))]
    reason = lines[-1] if lines else text.splitlines()[0]
    return re.sub(r"^.*?CSV Error on Line: \d+\s*", "", reason) or reason


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
