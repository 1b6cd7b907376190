"""The audits that guard bronze and silver: run on the staged table before it is published, and
reported as the asset's checks (see warehouse/publish.py). Keys may have several columns, and
columns any name a file or a database gives them (spaces, accents, quotes)."""

import hashlib
import re
import unicodedata
from dataclasses import replace

from clawdata.sources.spec import FileSourceSpec
from clawdata.warehouse.publish import Audit
from clawdata.warehouse.tables import ident

_ROWS = "count(*) || CASE WHEN count(*) = 1 THEN ' row' ELSE ' rows' END"  # '1 row', '2 rows'


def check_name(*parts: str) -> str:
    """A check's name from column names: Dagster allows only letters, digits and `_`, so accents
    are dropped and anything else becomes `_` ("Numéro Client" -> "Numero_Client")."""
    ascii_ = unicodedata.normalize("NFKD", "_".join(parts)).encode("ascii", "ignore").decode()
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", ascii_)).strip("_") or "column"


def _braced(sql: str) -> str:
    """Text put into an audit's SQL, which is a format string (for `{table}`): braces doubled."""
    return sql.replace("{", "{{").replace("}", "}}")


def _q(column: str) -> str:  # a column in SQL
    return _braced(ident(column))


def _text(text: str) -> str:  # inside a SQL string literal
    return _braced(text.replace("'", "''"))


def _distinct_names(audits: list[Audit]) -> list[Audit]:
    """Two columns cleaned to one name ("Solde", "Solde (€)"): each such check gets a short hash of
    what it checks, so Dagster sees two checks."""
    names = [a.name for a in audits]
    return [a if names.count(a.name) == 1 else
            replace(a, name=f"{a.name}_{hashlib.sha1(a.description.encode()).hexdigest()[:6]}") for a in audits]


ROWS_PRESENT = "rows_present"


def _rows_present(empty_ok: bool | str = False) -> Audit:
    """A table with no row is refused, and the last good version stays. `empty_ok`: it may be empty
    (True; or SQL saying when)."""
    when = "true" if empty_ok is True else empty_ok
    return Audit(
        ROWS_PRESENT,
        "The table has at least one row once its source has given one.",
        f"SELECT count(*) > 0{f' OR {when}' if when else ''}, {_ROWS} FROM {{table}}",
    )


def before_first_rows(audits: list[Audit]) -> list[Audit]:
    """The audits of a bronze table that has never held a row: an empty version passes (a source
    before its data: no file yet, a header-only export, an empty database table). Once it holds
    rows, an empty version is refused (an inbox emptied by mistake, the wrong database)."""
    return [_rows_present(empty_ok=True) if a.name == ROWS_PRESENT else a for a in audits]


def _key_name(source: FileSourceSpec) -> str:
    return check_name(*source.key)


def _any_null(columns: list[str]) -> str:
    return " OR ".join(f"{_q(c)} IS NULL" for c in columns)


def _first_row(source: FileSourceSpec, column: str) -> str:
    """SQL appended to a per-row audit's message: the smallest failing key, and its value of `column`
    (`1 row out of range (the first: return_id 50, refund_eur 9999.0)`); nothing when none fails."""
    key = " || ', ' || ".join(f"{_q(k)}::VARCHAR" for k in source.key)
    value = f" || ', {_text(column)} ' || coalesce(arg_min({_q(column)}::VARCHAR, {key}), 'NULL')"
    return f" || coalesce(' (the first: {_text(', '.join(source.key))} ' || min({key}){value} || ')', '')"


def raw_audits(source: FileSourceSpec) -> list[Audit]:
    key = ", ".join(source.key)
    # A file's bronze rows keep their file and row: the failure names the first of them.
    first = (" || ' (the first: ' || min_by(parse_filename(_source_file) || ' row ' || _row, _row) || ')'"
             if isinstance(source, FileSourceSpec) else "")
    audits = [
        _rows_present(),
        Audit(
            f"{_key_name(source)}_not_null",
            f"Every delivered row has a {key}.",
            f"SELECT count(*) = 0, {_ROWS} || ' without {_text(key)}'{first} FROM {{table}} WHERE {_any_null(source.key)}",
            per_row=True,
        ),
    ]
    if not isinstance(source, FileSourceSpec):
        # A file's rows have an order (the later version of a key wins); a table's have none: two rows
        # of one load with one key would leave silver to chance. (Two loads: the later one wins.)
        keys, shown = _braced(source.keys_sql()), " || ', ' || ".join(f"{_q(k)}::VARCHAR" for k in source.key)
        audits.append(Audit(
            f"{_key_name(source)}_unique_per_load",
            f"One row per {key} in each load: the table's key is unique.",
            f"SELECT count(*) = 0, count(*) || ' keys with more than one row in one load (the table is not unique on "
            f"{_text(key)})' || coalesce(' (the first: {_text(key)} ' || min(shown) || ')', '') FROM "
            f"(SELECT {shown} AS shown FROM {{table}} WHERE NOT ({_any_null(source.key)}) GROUP BY {keys}, _file_rank HAVING count(*) > 1)",
            per_row=True,
        ))
    return audits


def silver_audits(source: FileSourceSpec) -> list[Audit]:
    key = ", ".join(source.key)
    keys = _braced(source.keys_sql())
    null_counts = " + ".join(f"count(*) FILTER (WHERE {_q(c)} IS NULL)" for c in source.required_columns)

    # The key as silver cleans it (' EU' and 'eu' are one key); as delivered where silver keeps it.
    cleaned = [_braced(source.column(k).silver_sql(k)) for k in source.key] if source.cleans_keys() else None

    def in_bronze(rows: str) -> str:  # the distinct non-null keys of `rows` (bronze, or some of it)
        if cleaned:
            return f"(SELECT DISTINCT {', '.join(cleaned)} FROM {rows} WHERE {' AND '.join(f'{c} IS NOT NULL' for c in cleaned)})"
        return f"(SELECT DISTINCT {keys} FROM {rows} WHERE NOT ({_any_null(source.key)}))"

    audits = [
        _rows_present(f"NOT EXISTS (SELECT 1 FROM {_braced(str(source.bronze))})"),  # empty as bronze is
        Audit(
            f"{_key_name(source)}_unique",
            f"One row per {key} after deduplication.",
            f"SELECT n = d, (n - d) || ' duplicated keys' FROM "
            f"(SELECT count(*) AS n, (SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {{table}})) AS d FROM {{table}})",
            # A merge deletes every key it writes before inserting them: unique merged rows keep the
            # whole table unique, so a merge checks only those (no rescan of the table).
            per_row=True,
        ),
        Audit(
            "required_not_null",
            f"Required columns are filled: {', '.join(source.required_columns)}.",
            f"SELECT ({null_counts}) = 0, ({null_counts}) || ' null values in required columns' FROM {{table}}",
            per_row=True,
        ),
        Audit(
            "row_count_sane",
            f"Deduplication keeps exactly one row per distinct {key} of bronze (a merge: per merged key).",
            f"SELECT n = d, n || ' rows for ' || d || ' distinct keys in bronze' FROM "
            f"(SELECT (SELECT count(*) FROM {{table}}) AS n, (SELECT count(*) FROM {in_bronze(source.bronze)}) AS d)",
            # The merged keys filter bronze before DISTINCT: DuckDB does not push the join below it,
            # and the distinct keys of all of bronze cost seconds at 10M rows (5.5 s against 0.1 s).
            merge_sql=f"SELECT n = d, n || ' merged rows for ' || d || ' merged keys in bronze' FROM "
                      f"(SELECT (SELECT count(*) FROM {{table}}) AS n, (SELECT count(*) FROM "
                      f"{in_bronze(f'{source.bronze} SEMI JOIN {{keys}} USING ({keys})')}) AS d)",
        ),
    ]
    for column, values in source.checks.accepted_values.items():
        listed = ", ".join(_value(v) for v in values)
        audits.append(Audit(
            check_name(column, "accepted_values"), f"{column} is one of: {', '.join(map(str, values))}.",
            f"SELECT count(*) = 0, {_ROWS} || ' with another {_text(column)}'{_first_row(source, column)} FROM {{table}} "
            f"WHERE {_q(column)} IS NOT NULL AND {_q(column)} NOT IN ({listed})", per_row=True))
    for column, bounds in source.checks.ranges.items():
        outside = " OR ".join([*([f"{_q(column)} < {bounds.min}"] if bounds.min is not None else []),
                               *([f"{_q(column)} > {bounds.max}"] if bounds.max is not None else [])]) or "false"
        audits.append(Audit(
            check_name(column, "in_range"), f"{column} lies within [{bounds.min}, {bounds.max}].",
            f"SELECT count(*) = 0, {_ROWS} || ' out of range'{_first_row(source, column)} FROM {{table}} WHERE {outside}",
            per_row=True))
    return _distinct_names(audits)


def _value(value) -> str:
    return str(value) if isinstance(value, (int, float)) else "'" + _text(str(value)) + "'"
