"""Which dbt tests a build may run on the rows it changed, and the SQL naming those rows.

Two kinds of tables change by rows named in silver's change logs (warehouse/ledger.py):
- a silver table (a source in dbt): a merge deletes every row of the keys it writes and inserts
  them again; the table's own log lists those keys;
- an incremental model that declares what it recomputes (`meta.clawdata.recompute` and
  `changed_in`, see dbt/macros/clawdata_changes.sql): it deletes the groups its logs name and
  inserts them again.
Every other row is the one the table held before. A test that judges each row on its own then needs
to read only the rewritten rows, provided its last result passed on a table this change started
from (plan.py checks that): the other rows passed it already.

What a scoped test still guarantees, per kind (anything else reads the whole table):
- `not_null`, `accepted_values`, and generic tests marked row by row (`meta: {clawdata: {row_level:
  true}}`, as dbt/tests/generic/non_negative.sql is): exactly what the whole-table test does.
- `unique` on the rewritten key (the recomputed column, silver's one-column key), and
  `unique_combination_of_columns` (the project's or dbt_utils') over columns that include all of
  it: the same too, since every row of a rewritten key value is new and no unchanged row shares
  that value. On other columns a changed row could repeat an unchanged one's values: whole table.
- `relationships`, on the child side: the changed rows' references are checked; an unchanged row
  whose parent went away is not (the shipped models recompute the children of any changed parent).
- Tests with their own thresholds (`warn_if`, `error_if`, `fail_calc`) count failing rows, so they
  read the whole table, as do singular tests.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ROW_LEVEL = {"not_null", "accepted_values", "relationships"}  # dbt's own generic tests
PACKAGE_ROW_LEVEL = {("dbt_utils", "accepted_range"), ("dbt_utils", "expression_is_true"),
                     ("dbt_utils", "not_accepted_values"), ("dbt_utils", "not_empty_string")}
UNIQUE = {"unique", "unique_combination_of_columns"}  # a key of one column, or of several
DEFAULTS = {"warn_if": "!= 0", "error_if": "!= 0", "fail_calc": "count(*)"}
CHANGE_LOG_SCHEMA = "_clawdata"  # warehouse/ledger.py


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _columns(names: Sequence[str]) -> str:
    listed = ", ".join(_quote(c) for c in names)
    return listed if len(names) == 1 else f"({listed})"


@dataclass(frozen=True)
class Changes:
    """A table's rewritten rows: those whose `columns` hold values its silver change logs list."""

    columns: tuple[str, ...]
    logs: tuple[tuple[str, tuple[str, ...]], ...]  # (silver table, the log's columns holding the values)

    @property
    def tables(self) -> list[str]:
        return [table for table, _ in self.logs]

    def predicate(self) -> str:
        """SQL on the table's own columns (for a model, the rows its pre-hook deleted and put back)."""
        logs = " union ".join(f"select {', '.join(_quote(c) for c in columns)} from "
                              f"{_quote(CHANGE_LOG_SCHEMA)}.{_quote(table + '__changes')}" for table, columns in self.logs)
        return f"{_columns(self.columns)} in ({logs})"


def of_model(model: Mapping[str, Any]) -> Changes | None:
    """What a model declares it recomputes, if it does."""
    declared = (((model.get("config") or {}).get("meta") or {}).get("clawdata") or {})
    column, changed_in = declared.get("recompute"), declared.get("changed_in")
    if not isinstance(column, str) or not changed_in or isinstance(changed_in, str):
        return None
    try:
        return Changes((column,), tuple((str(table), (str(col),)) for table, col in changed_in))
    except (TypeError, ValueError):  # not a list of pairs: not a declaration clawdata can read
        return None


def of_silver(table: str, key: Sequence[str]) -> Changes:
    """A silver table merges by key: its log's keys are its rewritten rows."""
    return Changes(tuple(key), ((table, tuple(key)),))


def row_level(test: Mapping[str, Any], changes: Changes) -> bool:
    """Whether `test`, on the table `changes` describes, may check only the rewritten rows."""
    metadata, config = test.get("test_metadata") or {}, test.get("config") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not name or any(_normal(config.get(k, v)) != _normal(v) for k, v in DEFAULTS.items()):
        return False
    if ((config.get("meta") or {}).get("clawdata") or {}).get("row_level") is True:
        return True
    if name in UNIQUE and namespace in (None, "dbt", "dbt_utils"):
        return _holds_the_key(_unique_columns(name, test), changes)
    if namespace in (None, "dbt"):
        return name in ROW_LEVEL
    return (namespace, name) in PACKAGE_ROW_LEVEL


def scoped_where(test: Mapping[str, Any], changes: Changes) -> str:
    """The test's `where` config for this build: its own, if any, and the rewritten rows."""
    own = ((test.get("config") or {}).get("where") or "").strip()
    return f"({own}) and ({changes.predicate()})" if own else changes.predicate()


def _normal(value) -> str:
    return "".join(str(value).split()).lower()


def _holds_the_key(columns: list[str], changes: Changes) -> bool:
    return bool(columns) and {c.lower() for c in changes.columns} <= set(columns)


def _unique_columns(name: str, test: Mapping[str, Any]) -> list[str]:
    """The columns a uniqueness test keys on, as lower-case names ([] if it names none)."""
    kwargs = (test.get("test_metadata") or {}).get("kwargs") or {}
    if name == "unique":
        columns = [test.get("column_name") or kwargs.get("column_name") or ""]
    else:
        columns = kwargs.get("combination_of_columns") or []
        if isinstance(columns, str):  # not a list of columns (the test's SQL would join its letters)
            return []
    return [str(c).strip().strip('"').lower() for c in columns if str(c).strip()]
