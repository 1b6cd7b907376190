"""Which dbt tests an incremental build may run on the rows it changed, and the SQL naming those rows.

An incremental model that declares what it recomputes (`meta.clawdata.recompute` and `changed_in`,
see dbt/macros/clawdata_changes.sql) deletes the groups its silver change logs name and inserts them
again; every other row is the one its last build left. A test that judges each row on its own then
needs to read only the recomputed groups, provided its last result passed on exactly the table this
build started from (plan.py checks that): the rest of the table passed it already.

What a scoped test still guarantees, per kind (anything else reads the whole table):
- `not_null`, `accepted_values`, and generic tests marked row by row (`meta: {clawdata: {row_level:
  true}}`, as dbt/tests/generic/non_negative.sql is): exactly what the whole-table test does.
- `unique` on the recomputed column: the same too, since every row of a recomputed value is new.
  On another column a changed row could repeat an unchanged one's value: whole table.
- `relationships`, on the child side: the changed rows' references are checked; an unchanged row
  whose parent went away is not (the shipped models recompute the children of any changed parent).
- Tests with their own thresholds (`warn_if`, `error_if`, `fail_calc`) count failing rows, so they
  read the whole table, as do singular tests and tests on sources.
"""

from collections.abc import Mapping
from typing import Any

ROW_LEVEL = {"not_null", "accepted_values", "relationships"}  # dbt's own generic tests
PACKAGE_ROW_LEVEL = {("dbt_utils", "accepted_range"), ("dbt_utils", "expression_is_true"),
                     ("dbt_utils", "not_accepted_values"), ("dbt_utils", "not_empty_string")}
DEFAULTS = {"warn_if": "!= 0", "error_if": "!= 0", "fail_calc": "count(*)"}
CHANGE_LOG_SCHEMA = "_clawdata"  # warehouse/ledger.py


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def declaration(model: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]] | None:
    """(recomputed column, [(silver table, column), ...]) of a model that declares them."""
    declared = (((model.get("config") or {}).get("meta") or {}).get("clawdata") or {})
    column, changed_in = declared.get("recompute"), declared.get("changed_in")
    if not isinstance(column, str) or not changed_in:
        return None
    try:
        return column, [(str(table), str(col)) for table, col in changed_in]
    except (TypeError, ValueError):  # not a list of pairs: not a declaration clawdata can read
        return None


def change_logs(model: Mapping[str, Any]) -> list[str]:
    """The silver tables whose change logs name the model's recomputed groups."""
    declared = declaration(model)
    return [table for table, _ in declared[1]] if declared else []


def predicate(model: Mapping[str, Any]) -> str | None:
    """SQL on the model's own columns: the rows an incremental build of it recomputed (the same rows
    its pre-hook deleted, as clawdata_is_changed() names them)."""
    declared = declaration(model)
    if declared is None:
        return None
    column, changed_in = declared
    logs = " union ".join(f"select {_quote(col)} from {_quote(CHANGE_LOG_SCHEMA)}.{_quote(table + '__changes')}"
                          for table, col in changed_in)
    return f"{_quote(column)} in ({logs})"


def row_level(test: Mapping[str, Any], model: Mapping[str, Any]) -> bool:
    """Whether `test`, on `model`, may check only the recomputed rows (see the module's text)."""
    metadata, config = test.get("test_metadata") or {}, test.get("config") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    declared = declaration(model)
    if not name or declared is None or test.get("attached_node") != model.get("unique_id"):
        return False
    if any(_normal(config.get(k, v)) != _normal(v) for k, v in DEFAULTS.items()):
        return False
    if ((config.get("meta") or {}).get("clawdata") or {}).get("row_level") is True:
        return True
    if namespace in (None, "dbt"):
        if name == "unique":
            return _column(test) == declared[0].lower()
        return name in ROW_LEVEL
    return (namespace, name) in PACKAGE_ROW_LEVEL


def _normal(value) -> str:
    return "".join(str(value).split()).lower()


def _column(test: Mapping[str, Any]) -> str:
    column = test.get("column_name") or ((test.get("test_metadata") or {}).get("kwargs") or {}).get("column_name") or ""
    return str(column).strip().strip('"').lower()


def scoped_where(test: Mapping[str, Any], model: Mapping[str, Any]) -> str:
    """The test's `where` config for this build: its own, if any, and the recomputed rows."""
    own = ((test.get("config") or {}).get("where") or "").strip()
    changed = predicate(model)
    return f"({own}) and ({changed})" if own else changed
