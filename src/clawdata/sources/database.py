"""A table of the team's own database as a source, loaded by dlt (its `sql_table` source) into bronze.

- The declaration names the connection without its password (`url`), the table, the key and,
  optionally, a cursor column. The password comes from the environment: `password_env` (default
  CLAWDATA_SOURCE_<NAME>_PASSWORD), else the driver's own variable (PGPASSWORD for Postgres). It is
  never written to a file, printed, or logged: every message is scrubbed of it.
- A load runs inside the warehouse pool, on the step's own DuckDB connection: dlt extracts the rows
  whose cursor moved (all of them on the first load, on a full refresh, or without a cursor) into
  `_clawdata_dlt."NAME__extract"`; bronze then takes them by key (upsert), with its audits and the
  ledger, in one transaction (a full load replaces bronze: rows deleted in the database go).
- dlt keeps its incremental state in the warehouse (`_clawdata_dlt._dlt_pipeline_state`), beside
  the data, so a restored warehouse restores the cursor with it. A load whose bronze publish did not
  commit (a failed audit, a crash) is not one: its state row is dropped at the next start, and its
  rows are extracted again.
- Before dlt runs, the table is looked at (SQLAlchemy's inspector): an unreachable database, a
  wrong password, a missing table or a column whose type changed ends the step with one line.

Dagster-free: the bronze asset (defs/ingest/assets.py) calls `load_bronze_from_database`.
"""

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import duckdb
from pydantic import Field, field_validator

from clawdata.listing import few
from clawdata.sources import declarations
from clawdata.sources.spec import LINEAGE_COLUMNS, SourceSpec, reserved_among
from clawdata.warehouse import ledger
from clawdata.warehouse.files import BadInputFile
from clawdata.warehouse.publish import Audit, Published, publish, publish_changes
from clawdata.warehouse.tables import Table, ident

DLT_SCHEMA = "_clawdata_dlt"  # dlt's dataset: the extracts and its state, in the warehouse
_DRIVER_PASSWORD = {"postgresql": "PGPASSWORD", "mysql": "MYSQL_PWD"}


class InspectionError(ValueError):
    """The database or its table cannot be read as declared; the message names the cause."""


class DatabaseSourceSpec(SourceSpec):
    url: str = Field(description="SQLAlchemy URL without the password, e.g. postgresql://app@db.internal:5432/shop")
    table: str = Field(description="SCHEMA.TABLE (or TABLE)")
    cursor: str | None = Field(None, description="Load only rows whose cursor moved (e.g. updated_at); none: in full.")
    password_env: str | None = Field(None, description="The variable holding the password; default CLAWDATA_SOURCE_<NAME>_PASSWORD.")
    source_types: dict[str, str] = Field(default_factory=dict, description="The columns' types in the database when declared.")
    freshness_hours: float = Field(26, description="Late in the UI and `status` when not loaded within this many hours.")

    # dlt adds these two to every row it extracts, over a column of the table of the same name.
    reserved_columns: ClassVar[tuple[str, ...]] = (*LINEAGE_COLUMNS, "_dlt_load_id", "_dlt_id")

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str) -> str:
        from sqlalchemy.engine import make_url

        if make_url(value).password:
            raise ValueError("the URL must not carry the password: set it in the environment (password_env)")
        return value

    @property
    def password_variable(self) -> str:
        return self.password_env or f"CLAWDATA_SOURCE_{self.name.upper()}_PASSWORD"

    @property
    def has_password(self) -> bool:
        """A server's database (one with a host); a file's (SQLite, DuckDB) has none to ask for."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).host is not None

    @property
    def driver_password_variable(self) -> str | None:
        from sqlalchemy.engine import make_url

        return _DRIVER_PASSWORD.get(make_url(self.url).get_backend_name())

    @property
    def schema_and_table(self) -> tuple[str | None, str]:
        schema, _, table = self.table.rpartition(".")
        return schema or None, table

    @property
    def redacted_url(self) -> str:
        return self.url

    def password(self) -> str | None:
        if not self.has_password:  # a file's database: a variable set for another use must not reach its URL
            return None
        return os.environ.get(self.password_variable) or os.environ.get(self.driver_password_variable or "") or None

    def connection_url(self):
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        return url.set(password=self.password()) if self.password() else url

    def scrub(self, text: str) -> str:
        """A message as the user sees it: without the password (drivers and dlt may quote the URL), and
        naming where the password is read from when the driver says it was given none."""
        secret = self.password()
        if secret:
            return text.replace(secret, "***")
        if "no password supplied" in text:  # (PostgreSQL's libpq)
            return f"{text} (no password in ${self.password_variable}: set it, or the driver's own variable)"
        return text


def inspect_table(spec: DatabaseSourceSpec) -> dict[str, str]:
    """The table's columns and their database types; InspectionError with one line naming the cause."""
    from sqlalchemy import inspect

    schema, table = spec.schema_and_table
    with _connection(spec) as connection:
        columns = inspect(connection).get_columns(table, schema=schema)
    if not columns:
        raise InspectionError(f"{_where(spec)}: the table does not exist (or shows no columns to this user){_unqualified(spec)}")
    # (SQLAlchemy renders a PostgreSQL timestamptz as TIMESTAMP: its zone is said here, so it is
    # declared TIMESTAMPTZ, an instant, rather than a naive time shifted to UTC)
    types = {c["name"]: _base(c["type"]) for c in columns}
    return {name: str(t) + (" WITH TIME ZONE" if getattr(t, "timezone", False) is True and "ZONE" not in str(t).upper() else "")
            for name, t in types.items()}


def _base(sql_type):
    """A PostgreSQL DOMAIN's own type (`pos_qty` over INTEGER is an INTEGER); any other type itself."""
    return getattr(sql_type, "data_type", sql_type) if type(sql_type).__name__ == "DOMAIN" else sql_type


@contextmanager
def _connection(spec: DatabaseSourceSpec) -> Iterator:
    """A connection to the source's database; its errors as InspectionError, one line, scrubbed."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import NoSuchTableError, OperationalError, SQLAlchemyError

    missing = _missing_sqlite_file(spec)
    if missing:
        raise InspectionError(f"{_where(spec)}: no such database file {missing}")
    try:
        engine = create_engine(spec.connection_url(), connect_args=_connect_timeout(spec))
    except ModuleNotFoundError as e:  # SQLAlchemy imports the URL's driver here
        raise InspectionError(
            f"{_where(spec)}: the database driver this URL needs is not installed (no module {e.name!r}). "
            "PostgreSQL (postgresql://) and SQLite (sqlite:///) are; for another database, install its "
            "SQLAlchemy driver into the venv and the user-code image, and name it in the URL "
            "(e.g. `pip install pymysql`, then mysql+pymysql://...)") from None
    try:
        with engine.connect() as connection:
            yield connection
    except NoSuchTableError:
        raise InspectionError(f"{_where(spec)}: the table does not exist{_unqualified(spec)}") from None
    except OperationalError as e:
        raise InspectionError(f"{_where(spec)}: {spec.scrub(_first_line(e.orig or e))}") from None
    except SQLAlchemyError as e:
        raise InspectionError(f"{_where(spec)}: {spec.scrub(_first_line(e))}") from None
    finally:
        engine.dispose()


def _missing_sqlite_file(spec: DatabaseSourceSpec) -> str | None:
    """The file a SQLite URL names when it does not exist: SQLite would create it, empty, at the first
    connection, and a mistyped path read as a missing table, leaving a 0-byte file behind."""
    from sqlalchemy.engine import make_url

    url = make_url(spec.url)
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" or url.query.get("uri"):
        return None  # in memory, or a `file:` URI (its own mode decides)
    return None if os.path.exists(path) else os.path.abspath(path)


def _unqualified(spec: DatabaseSourceSpec) -> str:
    """A table named without its schema is looked for in the connection's default one only."""
    if spec.schema_and_table[0] is not None or spec.url.startswith("sqlite"):  # (SQLite: one file, one namespace)
        return ""
    return " in the connection's default schema (it was named without one): if it is in another, name it SCHEMA.TABLE"


def _where(spec: DatabaseSourceSpec) -> str:
    return f"source {spec.name} ({spec.redacted_url}, table {spec.table})"


def _connect_timeout(spec: DatabaseSourceSpec) -> dict:
    return {"connect_timeout": 10} if spec.url.startswith("postgresql") else {}


def _first_line(error) -> str:
    text = str(error).strip()
    return (text.splitlines() or ["error"])[0].strip()


def check_columns(spec: DatabaseSourceSpec, found: dict[str, str]) -> None:
    where = f"source {spec.name} (table {spec.table})"
    missing = [c for c in spec.types if c not in found]
    if missing:
        raise InspectionError(f"{where}: column(s) {', '.join(missing)} are gone from the table (renamed or dropped: "
                              "update the declaration's columns and source_types; the last good tables are kept)")
    changed = [f"{c} from {t} to {found[c]}" for c, t in spec.source_types.items()
               if c in found and _comparable(found[c]) != _comparable(t)
               and t.upper() != "DOMAIN"]  # declared before a domain's own type was read: loads unchanged
    if changed:
        raise InspectionError(f"{where}: column type changed in the database: {'; '.join(changed)} "
                              "(update the declaration's columns and source_types; the last good tables are kept)")


def _comparable(database_type: str) -> str:
    """A type as a change in it matters to DuckDB: a VARCHAR's length does not (DuckDB's VARCHAR has
    none; a PostgreSQL enum shows as VARCHAR of its longest label, so adding a label changes it)."""
    # (nor whether a timestamp says its zone: declarations made before it was said record
    # timestamptz as TIMESTAMP, and their loads are unchanged)
    bare = re.sub(r"^((?:NATIONAL )?(?:CHARACTER VARYING|VARCHAR|NVARCHAR))\(\d+\)$", r"\1", database_type.strip().upper())
    return re.sub(r"^(TIMESTAMP(?:\(\d+\))?) WITH TIME ZONE$", r"\1", bare)


# --- declaring: `clawdata source add NAME --from URL --table SCHEMA.TABLE --key COL` ----------------

_DUCKDB_TYPES = [  # database type (SQLAlchemy's rendering, upper case) -> DuckDB type
    (r"^INTERVAL", "INTERVAL"),  # before INT, which it starts with (dlt cannot load it: UNLOADABLE)
    (r"^(BIG)?SERIAL|^BIGINT|^INT8", "BIGINT"), (r"^(SMALL)?INT|^INTEGER|^INT4|^INT2|^SERIAL", "INTEGER"),
    (r"^(NUMERIC|DECIMAL)\((\d+)(?:,\s*(\d+))?\)", None), (r"^(NUMERIC|DECIMAL)", "DOUBLE"),
    (r"^(DOUBLE|FLOAT|REAL)", "DOUBLE"), (r"^BOOL", "BOOLEAN"), (r"^DATE$", "DATE"),
    (r"^TIMESTAMP.*WITH TIME ZONE|^TIMESTAMPTZ", "TIMESTAMPTZ"), (r"^(TIMESTAMP|DATETIME)", "TIMESTAMP"),
    (r"^TIME", "TIME"), (r"^UUID", "UUID"), (r"^JSON", "JSON"),
    (r"^(BYTEA|BLOB|LONGBLOB|MEDIUMBLOB|TINYBLOB|(VAR)?BINARY|IMAGE|RAW)\b", "BLOB"),
]


MAX_DECIMAL_DIGITS = 38  # DuckDB's DECIMAL width

# Database types dlt's Arrow extraction refuses ("Arrow type duration ... is unsupported by dlt"):
# `source add` leaves such columns out, and only declared columns are extracted.
UNLOADABLE = re.compile(r"^INTERVAL", re.IGNORECASE)


def duckdb_type(database_type: str) -> str:
    upper = database_type.upper()
    for pattern, duck in _DUCKDB_TYPES:
        found = re.match(pattern, upper)
        if found:
            if duck is None:  # a DECIMAL above DuckDB's 38 digits: its exact text (the database's own)
                return f"DECIMAL({found.group(2)},{found.group(3) or 0})" if int(found.group(2)) <= MAX_DECIMAL_DIGITS else "VARCHAR"
            return duck
    return "VARCHAR"


def _check_key(spec: DatabaseSourceSpec) -> None:
    """The key must name one row each, as silver keeps one row per key: refused with examples
    otherwise (as `source add` refuses a file's duplicated or empty key)."""
    from sqlalchemy import text

    schema, table = spec.schema_and_table
    with _connection(spec) as connection:
        quote = connection.dialect.identifier_preparer
        columns = ", ".join(quote.quote(k) for k in spec.key)
        relation = (f"{quote.quote_schema(schema)}." if schema else "") + quote.quote(table)
        empty = connection.execute(text(f"SELECT count(*) FROM {relation} WHERE "
                                        + " OR ".join(f"{quote.quote(k)} IS NULL" for k in spec.key))).scalar()
        repeated = connection.execute(text(f"SELECT {columns}, count(*) FROM {relation} GROUP BY {columns} "
                                           "HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 3")).fetchall()
    key = ", ".join(spec.key)
    if repeated:
        shown = "; ".join(f"{', '.join(map(str, row[:-1]))} ({row[-1]:,} rows)" for row in repeated)
        raise InspectionError(f"source {spec.name}: the key ({key}) is not unique in table {spec.table}: {shown}; "
                              "silver keeps one row per key: name the columns that make a row unique (its primary key)")
    if empty:
        raise InspectionError(f"source {spec.name}: {empty:,} rows of table {spec.table} have no {key}: "
                              "silver keeps only rows with a key")


def _one_to_dlt(name: str, table: str, columns: list[str], needed: list[str]) -> dict[str, tuple[str, str]]:
    """Columns dlt's naming makes one ("CustomerID", "customer_id"): each left out for the one kept,
    {left out: (kept, dlt's name)}. Left out, as a column of a type dlt cannot load is, rather than
    the table refused: the rest of it loads, and the summary says how to have both. The key and the
    cursor are kept before the table's first; two of them as one are refused."""
    kept: dict[str, str] = {}
    merged = {}
    for column, dlt_name in _dlt_names(sorted(columns, key=lambda c: c not in needed)).items():
        if dlt_name in kept:
            merged[column] = (kept[dlt_name], dlt_name)
        else:
            kept[dlt_name] = column
    clash = [c for c in merged if c in needed]
    if clash:
        raise InspectionError(f"source {name}: column(s) {', '.join(f'{c} and {merged[c][0]}' for c in clash)} of table "
                              f"{table} are one column to dlt ({', '.join(merged[c][1] for c in clash)}): the key and "
                              "cursor must be told apart; declare a view that renames one")
    return merged


def declare(name: str, url: str, table: str, key: list[str], cursor: str | None) -> tuple[str, str]:
    """The declaration's YAML and what to tell the user, from the table as it is."""
    taken = reserved_among([*key, *([cursor] if cursor else [])], DatabaseSourceSpec.reserved_columns)
    if taken:
        raise InspectionError(f"source {name}: column(s) {', '.join(taken)} of table {table} cannot be the key or cursor: "
                              f"bronze or dlt writes columns of these names for itself; choose another, or declare a "
                              "view that renames it")
    spec = DatabaseSourceSpec(name=name, url=url, table=table, key=key, cursor=cursor, order_by=cursor,
                              columns={k: "VARCHAR" for k in key} | ({cursor: "VARCHAR"} if cursor else {}))
    found = inspect_table(spec)
    missing = [c for c in [*key, *([cursor] if cursor else [])] if c not in found]
    if missing:
        raise InspectionError(f"source {name}: table {table} has no column(s) {', '.join(missing)} (it has: {', '.join(found)})")
    left_out = {c: t for c, t in found.items() if UNLOADABLE.match(t)}
    taken = reserved_among(found, DatabaseSourceSpec.reserved_columns)
    needed = [c for c in left_out if c in key or c == cursor]
    if needed:
        raise InspectionError(f"source {name}: column(s) {', '.join(needed)} of table {table} cannot be loaded "
                              f"({', '.join(left_out[c] for c in needed)}): choose another key or cursor")
    found = {c: t for c, t in found.items() if c not in left_out and c not in taken}
    merged = _one_to_dlt(name, table, list(found), [*key, *([cursor] if cursor else [])])
    found = {c: t for c, t in found.items() if c not in merged}
    _check_key(spec)
    spec = spec.model_copy(update={"columns": {c: duckdb_type(t) for c, t in found.items()}, "source_types": found})
    attributes = spec.model_dump(exclude_defaults=True)
    secret = (f" The password is read from\n# ${spec.password_variable} (or the driver's own variable): never put it here."
              if spec.has_password else "")
    text = (f"# Declared by `clawdata source add` from {url} (table {table}).{secret}\n"
            + declarations.declaration_text(declarations.DATABASE_SOURCE, attributes))
    columns = "\n".join(f"  {c:<24} {t:<18} {spec.column(c).type}{'  (key)' if c in key else ''}"
                        f"{'  (cursor)' if c == cursor else ''}" for c, t in found.items())
    summary = "\n".join([
        f"table {table}: {len(found)} columns (database type, DuckDB type):", columns,
        *([f"left out: {', '.join(f'{c} ({t})' for c, t in left_out.items())}: dlt cannot load these types"]
          if left_out else []),
        *([f"left out: {', '.join(taken)}: bronze or dlt writes columns of these names for itself"] if taken else []),
        *[f"left out: {c}: one column to dlt with {kept} (its naming makes both {n}); to load both, declare a view "
          "that renames one" for c, (kept, n) in merged.items()],
        f"key: {', '.join(key)}; " + (f"each load takes the rows whose {cursor} moved" if cursor
                                      else "each load takes the whole table (no --cursor)"),
        *([f"password: from ${spec.password_variable} (set it in .env for the stack; it is never written to a file)"]
          if spec.has_password else []), "",
        "next:",
        *([f"  export {spec.password_variable}=..." + (f"            (or {spec.driver_password_variable})"
                                                      if spec.driver_password_variable else "")] if spec.has_password else []),
        f"  clawdata dagster materialize --all   (loads it; what reads it and the replica, what `clawdata sql` reads, follow)",
        f"  in dbt: select * from {{{{ source('silver', 'slv_{name}') }}}}",
        f"  the stack: add {spec.password_variable} to .env, then make up   (the new image, and a daemon that has the "
        "password to hand to runs)" if spec.has_password
        else "  the stack: the file must be at that path in the run containers (a volume), then "
             "docker compose up -d --build user_code"])
    return text, summary


# --- loading -----------------------------------------------------------------------------------------

@dataclass
class Loaded:
    published: Published
    rows_read: int
    full: bool
    new_columns: list[str]  # in the table, unknown to the declaration (added since): not loaded
    cursor_ahead: str | None = None  # the cursor's value when it is ahead of the clock (_cursor_ahead)


def load_bronze_from_database(conn: duckdb.DuckDBPyConnection, spec: DatabaseSourceSpec, code_version: str,
                              audits: list[Audit], full: bool) -> Loaded:
    """Extract with dlt into the warehouse, then publish into bronze (see the module's docstring)."""
    found = inspect_table(spec)
    check_columns(spec, found)
    names = _extract_names(spec)  # before dlt extracts: two columns one to it fail there, unclearly
    known = {c.lower() for c in [*spec.columns, *spec.source_types, *spec.reserved_columns]}
    new_columns = [c for c, t in found.items() if c.lower() not in known and not UNLOADABLE.match(t)]
    ledger.ensure(conn)
    table, name = spec.bronze, spec.raw_table
    state = ledger.layer(conn, name)
    full = full or state is None or state.code_version != code_version or not table.exists(conn) or not spec.cursor
    pipeline_name = f"clawdata_{spec.name}"
    published_loads = {f.removeprefix("load:") for f in ledger.loaded_files(conn, name)}
    _forget_unpublished_loads(conn, pipeline_name, published_loads, everything=full)
    extract = f'{DLT_SCHEMA}."{spec.name}__extract"'
    if full:
        # dlt's refresh wipes the types it stored, not the extract table: a column declared DOUBLE went on
        # into its first DECIMAL(10,2), rounded. The table goes, and with it dlt's record of the schema it
        # last stored, so that dlt looks at the warehouse and creates the table anew (with the record, it
        # takes the table to be there).
        conn.execute(f"DROP TABLE IF EXISTS {extract}")
        if _exists(conn, DLT_SCHEMA, "_dlt_version"):
            conn.execute(f"DELETE FROM {DLT_SCHEMA}._dlt_version WHERE schema_name = ?", [pipeline_name])
    load_ids = _extract(conn, spec, pipeline_name, full)
    # No row read at all (an empty table's first load): dlt made no extract table.
    extracted = load_ids and _exists(conn, DLT_SCHEMA, f"{spec.name}__extract")
    rows = f"(SELECT * FROM {extract} WHERE _dlt_load_id IN (SELECT unnest(?::VARCHAR[])))" if extracted else None
    try:
        result = _publish(conn, spec, names, table, rows, load_ids, code_version, audits, full)
    except BaseException as e:
        _forget_unpublished_loads(conn, pipeline_name, published_loads, everything=False)
        # a value the declared type does not take (or, `_exactly`, would round): the column's name is in it
        if isinstance(e, duckdb.ConversionException) or isinstance(e, duckdb.InvalidInputException) and " would load as " in str(e):
            said = _first_line(e).removeprefix("Invalid Input Error: ")  # (`_exactly`'s own words follow)
            raise BadInputFile(f"source {spec.name} (table {spec.table}): {spec.scrub(said)}") from None
        raise
    if _exists(conn, DLT_SCHEMA, f"{spec.name}__extract"):
        conn.execute(f"DELETE FROM {extract}")  # taken in: the extract is only a hand-over
    published, read = result
    return Loaded(published, read, full, new_columns, _cursor_ahead(conn, spec, table) if read else None)


def _cursor_ahead(conn: duckdb.DuckDBPyConnection, spec: DatabaseSourceSpec, table: Table) -> str | None:
    """The cursor's highest value when it is a time more than a day ahead of the clock (an 'infinity',
    a 9999-12-31 placeholder, a clock set wrong): dlt reads the rows whose cursor is at least the
    highest it took, so a row changed later with an earlier cursor is not read until a full load."""
    declared = spec.types.get(spec.cursor or "", "").upper()
    if not declared.startswith(("DATE", "TIMESTAMP")):
        return None
    column = ident(spec.cursor)
    ahead = conn.execute(f"SELECT max({column})::VARCHAR FROM {table} WHERE {column}::TIMESTAMP > now()::TIMESTAMP + INTERVAL 1 DAY").fetchone()
    return ahead[0] if ahead else None


def _extract(conn: duckdb.DuckDBPyConnection, spec: DatabaseSourceSpec, pipeline_name: str, full: bool) -> list[str]:
    import dlt
    from dlt.sources.sql_database import sql_table

    schema, table = spec.schema_and_table
    # One load worker on the step's own connection; dlt's own files in a throwaway folder (its
    # state is restored from the warehouse each time).
    os.environ.setdefault("LOAD__WORKERS", "1")
    # Rows come as Arrow tables (pyarrow backend: no row-by-row normalizing); each keeps its load id,
    # which tells this load's rows from earlier ones in the extract.
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    # What is declared (a column left out is not read), and the cursor dlt follows.
    columns = list(dict.fromkeys([*spec.types, *([spec.cursor] if spec.cursor else [])]))
    # A row whose cursor is NULL has no place in the order: read it at every load (dlt's default fails
    # a full load on it, and skips it in an incremental one). The rows at the last cursor value are read
    # again, and dlt drops those it took already: compared on every column read, not on the table's
    # primary key (dlt's default), so a row updated without its cursor moving is taken.
    incremental = dlt.sources.incremental(spec.cursor, on_cursor_value_missing="include", primary_key=tuple(columns))
    resource = sql_table(credentials=spec.connection_url().render_as_string(hide_password=False), schema=schema, table=table,
                         incremental=incremental if spec.cursor else None,
                         reflection_level="full_with_precision", write_disposition="append", backend="pyarrow",
                         table_adapter_callback=lambda reflected: _as_declared(spec, reflected),
                         query_adapter_callback=_read_as_loaded,
                         included_columns=columns, engine_kwargs={"connect_args": _session(spec)})
    resource.apply_hints(table_name=f"{spec.name}__extract")
    with tempfile.TemporaryDirectory(prefix="clawdata-dlt-") as workdir:
        pipeline = dlt.pipeline(pipeline_name=pipeline_name, destination=dlt.destinations.duckdb(conn),
                                dataset_name=DLT_SCHEMA, pipelines_dir=workdir, progress="log")
        try:
            pipeline.sync_destination()
            # A full load starts dlt's side over too: the extract table and the column types dlt
            # stored for it (a type read another way now, as NUMERIC, would keep its old one).
            info = pipeline.run(resource, refresh="drop_resources" if full else None)
        except Exception as e:
            said = spec.scrub(_innermost(e))
            if "is not a valid decimal" in said:  # ('NaN' in a NUMERIC, which no DECIMAL holds)
                numeric = [c for c, t in spec.types.items() if t.strip().upper().startswith(("DECIMAL", "NUMERIC"))]
                said += f" (a value a DECIMAL cannot hold, such as 'NaN': declare {few(numeric, 4) or 'the column'} DOUBLE to load it)"
            raise BadInputFile(f"source {spec.name} (table {spec.table}): {said}") from None
    return list(info.loads_ids)


def _session(spec: DatabaseSourceSpec) -> dict:
    """PostgreSQL: the connect timeout `source add` uses; TCP keepalives, so a server gone in the
    middle of a load (its host down, the network cut) fails it in about a minute rather than holding
    the warehouse slot for the system's hours; the text of dates and times in ISO, in UTC, whatever
    the server's DateStyle and TimeZone (`_reading`'s "time")."""
    from sqlalchemy.engine import make_url

    if not spec.url.startswith("postgresql"):
        return {}
    own = make_url(spec.url).query.get("options")  # (the URL's own `options` are kept, these after them)
    own = [own] if isinstance(own, str) else list(own or [])
    return {**_connect_timeout(spec), "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
            "options": " ".join([*own, "-c DateStyle=ISO -c TimeZone=UTC"])}


def _as_declared(spec: DatabaseSourceSpec, reflected):
    """The reflected table with each column's type as it is read (`_reading`): dlt's extract takes its
    types from it, and `_read_as_loaded` has the database convert to them."""
    from sqlalchemy import types

    for column in reflected.columns:
        reading = _reading(spec, column)
        column.type = (types.Float(asdecimal=False) if reading == "double" else types.Text() if reading
                       else _base(column.type))  # (a DOMAIN: its own type)
        if reading:
            column.info[_READ_AS] = reading
    return _sqlite_cursor_to_the_second(spec, reflected)


_READ_AS = "clawdata_read_as"  # on a reflected column: how _read_as_loaded reads it


def _reading(spec: DatabaseSourceSpec, column) -> str | None:
    """How a column is read where the driver's value, through Arrow, would not do (None: as it comes):
    - "double", converted by the database: a NUMERIC without precision, as `source add` declares it
      (dlt would read DECIMAL(38,9) and fail on a value with more decimals: "Rescaling Decimal value
      would cause data loss"), or a NUMERIC declared DOUBLE (a value no DECIMAL holds, 'NaN', failed
      whatever was declared: "The string 'NaN' is not a valid decimal128 number");
    - "text", the database's text of it: JSON (dlt let Arrow infer a struct from a batch, so a value
      gained the other rows' keys as nulls and a whole number became a float), a NUMERIC of more
      digits than DuckDB's DECIMAL (exact), a column of no type (SQLite's, holding any value: Arrow
      guessed from the first rows, and a later text value failed naming no column);
    - "time": PostgreSQL's dates and timestamps, the cursor's aside, as text in ISO and UTC
      (`_session`), cast to the declared type in bronze: 'infinity' and '-infinity' stay infinite,
      where the driver made them 9999-12-31 23:59:59.999999 and 0001-01-01 without a word; a date
      before year 1 is refused at that cast, where DuckDB would drop its era. The cursor keeps its
      type: dlt compares its values."""
    from sqlalchemy import types

    sql_type = _base(column.type)
    numeric = isinstance(sql_type, types.Numeric) and not isinstance(sql_type, (types.Integer, types.Float))
    if numeric and (sql_type.precision is None and sql_type.asdecimal
                    or spec.types.get(column.name, "").strip().upper() in ("DOUBLE", "FLOAT", "REAL")):
        return "double"
    # (a float's precision is in bits: PostgreSQL's double precision, 53, is no wide NUMERIC)
    if isinstance(sql_type, (types.JSON, types.NullType)) or numeric and (sql_type.precision or 0) > MAX_DECIMAL_DIGITS:
        return "text"
    if (spec.url.startswith("postgresql") and column.name != spec.cursor
            and isinstance(sql_type, (types.Date, types.DateTime))):
        return "time"
    if numeric and column.name in _sqlite_decimals(spec):
        return "text"
    return None


def _sqlite_decimals(spec: DatabaseSourceSpec) -> set[str]:
    """SQLite keeps any number in a NUMERIC(10,2) column (123.456), and the driver rounded it to the
    column's scale without a word: such a column declared DECIMAL is read as SQLite's text of it, and
    a value its declared type would round is refused in bronze (`_publish`), as a file's is."""
    if not spec.url.startswith("sqlite"):
        return set()
    return {c for c, t in spec.types.items() if t.strip().upper().startswith(("DECIMAL", "NUMERIC"))
            and spec.source_types.get(c, "").strip().upper().startswith(("DECIMAL", "NUMERIC"))}


def _sqlite_cursor_to_the_second(spec: DatabaseSourceSpec, reflected):
    """SQLite compares a time as its text, and SQLAlchemy wrote dlt's last cursor value with
    microseconds ('2026-02-06 09:00:00.000000' sorts after '2026-02-06 09:00:00'): the rows at the last
    value were not read again, and an update that left the cursor alone was lost. Written to the
    second, the bound sorts at or before any text of that time; dlt drops the rows it already took."""
    from sqlalchemy import types
    from sqlalchemy.dialects.sqlite import DATETIME

    cursor = reflected.columns.get(spec.cursor) if spec.cursor and spec.url.startswith("sqlite") else None
    if cursor is not None and isinstance(cursor.type, types.DateTime):  # (a DATE is written as its stored text already)
        cursor.type = DATETIME(storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d")
    return reflected


def _read_as_loaded(query, table):
    """The SELECT with each column `_as_declared` marked converted by the database: its conversion of
    a NUMERIC is exact to the last digit, where dlt's of the Decimals it receives, through Arrow, was
    not (2.123456789012345 came out as 2.1234567890123452); its text of a JSON value is the value as
    it stores it."""
    import sqlalchemy as sa

    reading = {c.name: c.info[_READ_AS] for c in table.columns if c.info.get(_READ_AS)}

    def read(column):
        how = reading.get(column.name)
        if how is None:
            return column
        value = sa.cast(column, sa.Double() if how == "double" else sa.Text())
        return (_before_year_1_refused(value) if how == "time" else value).label(column.name)

    return query.with_only_columns(*[read(c) for c in query.selected_columns]) if reading else query


def _before_year_1_refused(text):
    """A BC date's text with a mark no cast reads, so bronze's cast names it rather than load 44 AD."""
    import sqlalchemy as sa

    return sa.case((text.like("% BC"), sa.literal("before year 1: ") + text), else_=text)


def _dlt_names(columns) -> dict[str, str]:
    """Each column's name in dlt's extract: dlt writes a table's columns under its snake_case naming
    convention ("CustomerID" -> customer_id); bronze keeps the database's names."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    naming = NamingConvention()
    return {column: naming.normalize_path(column) for column in columns}  # what dlt's Arrow path applies


def _extract_names(spec: DatabaseSourceSpec) -> dict[str, str]:
    """_dlt_names of the declared columns; two that are one to dlt refused before it extracts (its own
    message, "Arrow column name collision...", came truncated after the extract)."""
    names = _dlt_names(spec.types)
    clashes = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if clashes:
        raise InspectionError(f"source {spec.name} (table {spec.table}): columns "
                              f"{', '.join(c for c, n in names.items() if n in clashes)} are one column to dlt "
                              f"({', '.join(clashes)}): declare one of them only")
    return names


def _innermost(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return _first_line(error)


def _forget_unpublished_loads(conn, pipeline_name: str, published: set[str], everything: bool) -> None:
    """dlt's state rows of loads bronze never took in (or all of them, for a full load) go: the next
    extract starts from the last published cursor."""
    if not _exists(conn, DLT_SCHEMA, "_dlt_pipeline_state"):
        return
    state = f"{DLT_SCHEMA}._dlt_pipeline_state"
    if everything:
        conn.execute(f"DELETE FROM {state} WHERE pipeline_name = ?", [pipeline_name])
    else:
        conn.execute(f"DELETE FROM {state} WHERE pipeline_name = ? AND _dlt_load_id NOT IN (SELECT unnest(?::VARCHAR[]))",
                     [pipeline_name, sorted(published)])


def _publish(conn, spec: DatabaseSourceSpec, extracted: dict[str, str], table: Table, rows: str | None, load_ids: list[str],
             code_version: str, audits: list[Audit], full: bool) -> tuple[Published, int]:
    """`extracted`: each declared column's name in dlt's extract (_extract_names)."""
    name, changes, keys = spec.raw_table, ledger.changes_table(spec.raw_table), spec.keys_sql()
    exact = _sqlite_decimals(spec)
    select = ", ".join(f"{_exactly(c, extracted[c], t) if c in exact else f'CAST({ident(extracted[c])} AS {t})'} AS {ident(c)}"
                       for c, t in spec.types.items())
    lineage = (f"'{spec.table}' AS _source_file, _dlt_load_id AS _file_rank, NULL::BIGINT AS _row, "
               "current_timestamp AS _loaded_at")
    count = conn.execute(f"SELECT count(*) FROM {rows}", [load_ids]).fetchone()[0] if rows else 0

    def record(batch: int, is_full: bool) -> None:
        if is_full:
            ledger.forget_files(conn, name)
        ledger.record_files(conn, name, [(f"load:{i}", i, count) for i in load_ids], batch)
        ledger.record_layer(conn, name, code_version, batch, full=is_full)

    if full:
        def build(staging: Table) -> None:
            # Nothing read: the declared columns, no row (the names as dlt's extract gives them).
            source = rows or f"(SELECT {', '.join(f'NULL AS {ident(extracted[c])}' for c in spec.types)}, NULL::VARCHAR AS _dlt_load_id LIMIT 0)"
            conn.execute(f"CREATE TABLE {staging} AS SELECT {select}, {lineage} FROM {source}",
                         [load_ids] if rows else [])
            conn.execute(f"CREATE OR REPLACE TABLE {changes} AS SELECT 0::BIGINT AS batch, {keys} FROM {staging} LIMIT 0")
            record(ledger.next_batch(conn), True)

        return publish(conn, table, build, audits), count

    delta = f'"{name}__delta"'

    def apply() -> tuple[str, str | None]:
        batch = ledger.next_batch(conn)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {delta} AS SELECT * FROM {table} LIMIT 0")
        if rows:
            conn.execute(f"INSERT INTO {delta} SELECT {select}, {lineage} FROM {rows}", [load_ids])
            joined = " AND ".join(f"t.{ident(k)} = d.{ident(k)}" for k in spec.key)
            conn.execute(f"DELETE FROM {table} AS t USING {delta} AS d WHERE {joined}")
            conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {delta}")
            conn.execute(f"INSERT INTO {changes} SELECT ?, {keys} FROM {delta}", [batch])
        record(batch, False)
        return delta, None

    return publish_changes(conn, table, apply, audits), count


def _exactly(column: str, extracted: str, declared: str) -> str:
    """The text of a number cast to its declared DECIMAL, refused where the cast would round it."""
    value, cast = ident(extracted), f"CAST({ident(extracted)} AS {declared})"
    said = f"column {column} (declared {declared}): ".replace("'", "''")
    return (f"CASE WHEN TRY_CAST({value} AS DOUBLE) IS DISTINCT FROM {cast}::DOUBLE "
            f"THEN error('{said}' || {value} || ' would load as ' || {cast}) ELSE {cast} END")


def _exists(conn, schema: str, table: str) -> bool:
    return Table(schema, table).exists(conn)
