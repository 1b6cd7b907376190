"""A source, as a team declares it (`defs.yaml`), and what follows from it for bronze and silver.

A source `NAME` gives two tables: `bronze.raw_NAME`, every delivered row typed as delivered (plus
`_source_file`, `_file_rank`, `_row` and `_loaded_at`), and `silver.slv_NAME`, one row per key,
cleaned: the latest version by `order_by` wins, or, without one or on a tie, the latest delivery (a
later file, then a later row). This module is Dagster-free: the component (defs/ingest/component.py), the inbox
sensor, the dbt project's generated sources and `clawdata source add` all read it.
"""

import difflib
import fnmatch
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clawdata import settings
from clawdata.warehouse.tables import BRONZE as BRONZE_SCHEMA, SILVER as SILVER_SCHEMA, Table

FORMATS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}  # format -> file extension
# Text formats may come gzipped (DuckDB reads `.gz` by its extension); Parquet compresses inside.
GZIP_FORMATS = ("csv", "jsonl")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Where a silver SELECT reads bronze: the table in a full build, the changed keys' rows in a merge.
BRONZE_ROWS = "{bronze}"
# Bronze's own columns, beside the declared ones.
LINEAGE_COLUMNS = ("_source_file", "_file_rank", "_row", "_loaded_at")


# DuckDB's everyday type names, with their parameters and lists: known good without asking DuckDB
# (a connection costs 25-30 ms, paid at every load); any other spelling is asked (type_problem).
_PLAIN_TYPE = re.compile(
    r"\s*((BIGINT|INTEGER|INT|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|DOUBLE|FLOAT|REAL|BOOLEAN|BOOL|TEXT|"
    r"STRING|DATE|TIME|TIMESTAMP|TIMESTAMPTZ|INTERVAL|BLOB|UUID|JSON)|VARCHAR\s*(\(\s*\d+\s*\))?|"
    r"(DECIMAL|NUMERIC)\s*(\(\s*\d+\s*(,\s*\d+\s*)?\))?)\s*(\[\])*\s*", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def type_problem(type_sql: str) -> str | None:
    """Why `type_sql` is not a DuckDB type (a misspelling, with the closest names), or None."""
    if _PLAIN_TYPE.fullmatch(type_sql):
        return None
    import duckdb

    with duckdb.connect() as conn:
        try:
            conn.execute(f"SELECT CAST(NULL AS {type_sql})")
            return None
        except duckdb.Error as e:
            said = str(e).splitlines()[0].removeprefix("Catalog Error: ").removeprefix("Parser Error: ")
            names = [r[0] for r in conn.execute("SELECT DISTINCT type_name FROM duckdb_types() WHERE type_name NOT LIKE '%\\_%' ESCAPE '\\' "
                                                "OR type_name LIKE 'timestamp%'").fetchall()]
    word = re.match(r"\s*([A-Za-z_ ]+)", type_sql)
    close = [c.upper() for c in difflib.get_close_matches(word[1].strip().lower(), names, n=2, cutoff=0.6)] if word else []
    if word and word[1].strip().lower() in ("number", "money", "currency"):  # other databases' names for it
        close = ["DECIMAL(p,s)", *close]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"type {type_sql!r} is not a DuckDB type ({said.removesuffix('!')}){hint}"


def reserved_among(names, reserved: Sequence[str]) -> list[str]:
    """The names among `names` that bronze keeps for itself (DuckDB's names ignore case: `_ROW` too)."""
    taken = {r.lower() for r in reserved}
    return [n for n in names if n.lower() in taken]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Column(_Strict):
    """A column: its DuckDB type, and how silver cleans it (in this order: expression, or regex,
    then trim, then case). `computed` makes a silver-only column from the row's bronze columns."""

    type: str = "VARCHAR"
    description: str | None = None
    trim: bool = Field(False, description="Collapse whitespace runs (tabs, no-break spaces too), trim; blank is NULL.")
    case: Literal["lower", "upper"] | None = None
    regex: tuple[str, str] | None = Field(None, description="[pattern, replacement] for every match; blank is NULL.")
    expression: str | None = Field(None, description="SQL over the row's bronze columns: the silver value.")
    computed: str | None = Field(None, description="SQL over the row's bronze columns; not read from the files.")
    optional: bool = Field(False, description="A file may lack it (deliveries from before it was added): NULL there.")

    def silver_sql(self, name: str) -> str:
        if self.computed:
            return f"CAST(({self.computed}) AS {self.type})"
        if self.expression:
            return f"({self.expression})"
        sql = _ident(name)
        if self.regex:
            pattern, replacement = (_literal(p) for p in self.regex)
            sql = f"nullif(regexp_replace({sql}, {pattern}, {replacement}, 'g'), '')"
        if self.trim:
            sql = clean_text(sql)
        if self.case:
            sql = f"{self.case}({sql})"
        return sql


class Range(_Strict):
    min: float | None = None
    max: float | None = None


class Checks(_Strict):
    """Extra blocking audits on silver, beyond keys, required columns and row counts."""

    accepted_values: dict[str, list[str | int | float]] = Field(default_factory=dict)
    ranges: dict[str, Range] = Field(default_factory=dict)


class Files(_Strict):
    """Where deliveries are found: glob patterns in the inbox and in the sample folder.
    Defaults: `NAME*.<ext>` in the inbox, `sample_NAME.<ext>` in the sample folder, each also gzipped
    (`.<ext>.gz`) for CSV and JSON lines."""

    inbox: list[str] | None = None
    sample: list[str] | None = None


class SourceSpec(_Strict):
    """What every source declares, files or a database table."""

    name: str = Field(description="The source: assets raw_NAME (bronze) and slv_NAME (silver).")
    description: str = ""
    owners: list[str] = Field(default_factory=list)
    group: str = Field("silver", description="The silver asset's group (bronze is always `bronze`).")
    columns: dict[str, str | Column]
    key: list[str] = Field(description="The business key: one row per key in silver.")
    order_by: str | None = Field(None, description="Latest value wins; none: the latest delivery wins.")
    required: list[str] = Field(default_factory=list, description="Must be filled in silver (the key always is).")
    select: str | None = Field(None, description="A silver SELECT over {bronze}, instead of the cleaning above.")
    checks: Checks = Field(default_factory=Checks)

    # Names a declared column cannot take: bronze writes its own columns of these names.
    reserved_columns: ClassVar[tuple[str, ...]] = LINEAGE_COLUMNS

    @field_validator("key", "required", mode="before")
    @classmethod
    def _listed(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"'{value}' is not a source name: lower case letters, digits and _, starting with a letter")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SourceSpec":
        declared = set(self.columns)
        for what, names in (("key", self.key), ("required", self.required), ("order_by", [self.order_by] if self.order_by else []),
                            ("accepted_values", list(self.checks.accepted_values)), ("ranges", list(self.checks.ranges))):
            missing = [n for n in names if n not in declared]
            if missing:
                raise ValueError(f"{what} names column(s) {', '.join(missing)} that `columns` does not declare "
                                 f"(declared: {', '.join(self.columns)})")
        clash = reserved_among(self.columns, self.reserved_columns)
        if clash:  # loaded, they would overwrite (or collide with) the row's lineage
            raise ValueError(f"column(s) {', '.join(clash)}: bronze keeps columns of these names for itself "
                             f"({', '.join(self.reserved_columns)}); leave them out of `columns` (a column not "
                             "declared is not loaded)")
        if not self.key:
            raise ValueError("a source needs a key: one or more columns")
        unknown = [f"column {name}: {problem}" for name in self.columns if (problem := type_problem(self.column(name).type))]
        if unknown:  # (else the first file's read fails on it, and DuckDB's "did you mean" blames the file)
            raise ValueError("; ".join(unknown))
        computed_keys = [k for k in self.key if self.column(k).computed]
        if computed_keys:
            raise ValueError(f"the key cannot be computed: {', '.join(computed_keys)}")
        return self

    # --- what it gives --------------------------------------------------------------------------

    def column(self, name: str) -> Column:
        value = self.columns[name]
        return Column(type=value) if isinstance(value, str) else value

    @property
    def types(self) -> dict[str, str]:
        """The columns read from the files, with the types bronze enforces."""
        return {name: self.column(name).type for name in self.columns if not self.column(name).computed}

    @property
    def optional(self) -> frozenset[str]:
        """The columns a file may lack (NULL in its rows)."""
        return frozenset(name for name in self.columns if self.column(name).optional)

    @property
    def raw_table(self) -> str:  # the bronze asset's key and table name
        return f"raw_{self.name}"

    @property
    def silver_table(self) -> str:  # the silver asset's key and table name
        return f"slv_{self.name}"

    @property
    def bronze(self) -> Table:
        return Table(BRONZE_SCHEMA, self.raw_table)

    @property
    def silver(self) -> Table:
        return Table(SILVER_SCHEMA, self.silver_table)

    @property
    def required_columns(self) -> list[str]:
        return list(dict.fromkeys([*self.key, *self.required]))

    def keys_sql(self, alias: str = "") -> str:
        return ", ".join(f"{alias}{_ident(k)}" for k in self.key)

    def cleans_keys(self) -> bool:
        """Whether silver cleans a key column (trim, case, regex, expression): its keys are then not
        bronze's, and a merge by bronze's keys would miss the rows it replaces."""
        return self.select is None and any(self.column(k).silver_sql(k) != _ident(k) for k in self.key)

    def silver_select(self, bronze: str | None = None) -> str:
        """The silver SELECT over `bronze` (a relation: the bronze table, or some of its rows)."""
        relation = bronze or str(self.bronze)
        if self.select:
            return self.select.replace(BRONZE_ROWS, relation)
        columns = ",\n    ".join(f"{self.column(n).silver_sql(n)} AS {_ident(n)}" for n in self.columns)
        latest = [f"{_ident(self.order_by)} DESC NULLS LAST"] if self.order_by else []
        order = ", ".join([*latest, "_file_rank DESC", "_row DESC"])
        # By the key as silver cleans it (WHERE and QUALIFY read bronze's columns, not the aliases):
        # ' EU' and 'eu' are one key once trimmed and lowered.
        keys = [self.column(k).silver_sql(k) for k in self.key]
        not_null = " AND ".join(f"{k} IS NOT NULL" for k in keys)
        return (f"SELECT\n    {columns}\nFROM {relation}\nWHERE {not_null}\n"
                f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY {order}) = 1")

    def column_docs(self) -> dict[str, str]:
        return {n: self.column(n).description for n in self.columns if self.column(n).description}


class FileSourceSpec(SourceSpec):
    """Delivered files: CSV, Parquet or JSON lines, in the inbox (and the sample folder)."""

    format: Literal["csv", "parquet", "jsonl"] = "csv"
    files: Files = Field(default_factory=Files)
    null_markers: list[str] = Field(default_factory=lambda: [""], description="Values read as NULL (CSV).")
    delimiter: str = Field(",", description="CSV: the character between fields (`;`, `|`, or `\t` for a tab).")
    decimal_separator: Literal[".", ","] = Field(".", description="CSV: `,` for numbers written 12,50 (fields then "
                                                                  "separated by another character).")
    encoding: Literal["utf-8", "utf-16", "latin-1"] = Field(
        "utf-8", description="CSV: the files' text encoding (DuckDB reads these three; a UTF-8 or UTF-16 BOM is stripped).")
    date_format: str | None = Field(None, description="CSV dates, strptime-style (e.g. %d/%m/%Y); default ISO 8601.")
    timestamp_format: str | None = Field(None, description="CSV timestamps, strptime-style; default ISO 8601.")

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in ('"', "\n", "\r"):
            raise ValueError(f"delimiter {value!r}: one character, not a quote or a line break")
        return value

    @model_validator(mode="after")
    def _separators_differ(self) -> "FileSourceSpec":
        if self.decimal_separator == self.delimiter:
            raise ValueError(f"decimal_separator {self.decimal_separator!r} is also the delimiter: set `delimiter`")
        return self

    @property
    def extension(self) -> str:
        return FORMATS[self.format]

    def patterns(self) -> tuple[list[str], list[str]]:
        inbox = self.files.inbox if self.files.inbox is not None else self._named(f"{self.name}*")
        sample = self.files.sample if self.files.sample is not None else self._named(f"sample_{self.name}")
        return inbox, sample

    def _named(self, stem: str) -> list[str]:
        return [f"{stem}.{self.extension}", *([f"{stem}.{self.extension}.gz"] if self.format in GZIP_FORMATS else [])]

    def input_files(self, others: Sequence["SourceSpec"] = ()) -> list[Path]:
        """The sample files first, then inbox deliveries in delivery order (file_rank: later ones win ties). A file
        that another of the declared sources (`others`) matches by a longer fixed prefix is that
        source's: `products_1.csv` goes to `products` (products*.csv), not `product` (product*.csv)."""
        files: list[Path] = []
        for folder, patterns in zip(self._folders(), self.patterns()[::-1]):
            if folder.is_dir():
                found = {p for pattern in patterns for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".")}
                files += sorted((p for p in found if p not in files and self.claims(p, others, found=True)), key=file_rank)
        return files

    def claims(self, path: Path, others: Sequence["SourceSpec"] = (), found: bool = False) -> bool:
        """Whether `path` (there or not: a file taken out of the inbox) is one of this source's files,
        as input_files() decides (`found`: one of its patterns' globs found it)."""
        if path.name.startswith("."):
            return False
        rivals = [o for o in others if isinstance(o, FileSourceSpec) and o.name != self.name]
        for folder, side in zip(self._folders(), (1, 0)):
            if not path.is_relative_to(folder):
                continue
            relative = path.relative_to(folder)
            mine = max(_specificity(relative, self.patterns()[side]), 0 if found else -1)
            if mine >= 0 and all(_specificity(relative, o.patterns()[side]) <= mine for o in rivals):
                return True
        return False

    @staticmethod
    def _folders() -> tuple[Path, Path]:
        return settings.sample_dir(), settings.inbox_dir()


def shown(patterns: Sequence[str]) -> str:
    """Patterns for a message: `customers*.csv(.gz)` for a pattern and its gzipped twin."""
    return ", ".join(f"{p}(.gz)" if f"{p}.gz" in patterns else p for p in patterns
                     if not (p.endswith(".gz") and p[:-3] in patterns))


def _specificity(relative: Path, patterns: Sequence[str]) -> int:
    """How much of `relative` the most specific matching pattern fixes: its text before the first
    wildcard (-1: none matches). Matched as glob does, `**/` matching no folder too."""
    name = relative.as_posix()
    return max((len(re.split(r"[*?\[]", pattern, maxsplit=1)[0]) for pattern in patterns
                if fnmatch.fnmatchcase(name, pattern)
                or (pattern.startswith("**/") and fnmatch.fnmatchcase(name, pattern[3:]))), default=-1)


def file_rank(path: Path) -> str:
    """A file's place in delivery order, from its own path alone (so a file loaded on its own ranks as
    it would in a full rebuild): the sample first, then inbox files by their path in the inbox (a
    folder per day, `2026-12-02/items.csv`, ranks by its folder), the numbers in it compared as
    numbers (exporters number files: `subs_9` came before `subs_10`). Compared as text in SQL, so
    each number is padded."""
    roots = [(root, side) for root, side in ((settings.sample_dir(), 0), (settings.inbox_dir(), 1)) if path.is_relative_to(root)]
    root, side = max(roots, key=lambda r: len(r[0].parts), default=(path.parent, 1))  # the nearer, if one holds the other
    return f"{side}:{_DIGITS.sub(lambda m: m[0].rjust(_PADDED, '0'), path.relative_to(root).as_posix())}"


_DIGITS, _PADDED = re.compile(r"\d+"), 20


def outranked(arrivals: Sequence[Path], earlier: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(new file, the last of the earlier deliveries it ranks before), for each file just delivered
    that loses to an earlier delivery where both hold a key: `vendors_03-12-2026.csv` after
    `vendors_day1.csv`, a day-first date in a name. Arrival order is not kept (a rebuild reads files
    alone), so such a name says "older" forever."""
    last = max(earlier, key=file_rank, default=None)
    return [(path, last) for path in sorted(arrivals, key=file_rank) if last is not None and file_rank(path) < file_rank(last)]


def clean_text(sql: str) -> str:
    """SQL: collapse any whitespace run (tabs, no-break spaces too) to one space, trim, blank -> NULL."""
    return f"nullif(trim(regexp_replace({sql}, '[\\s\\x{{00a0}}]+', ' ', 'g')), '')"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
