"""Whether a gold build can be incremental, and what it has taken in once it succeeded.

The silver change logs (warehouse/ledger.py) hold what gold has not yet taken in; the project's
incremental models read them (dbt/macros/clawdata_changes.sql). A build must be full
(`dbt build --full-refresh`) when a silver table it reads has no record of being taken in by gold,
or was rebuilt in full since (its log restarted empty), when a selected model's code changed since
it was built, or when the run asks for it. Table models are rebuilt in full either way.

A silver table's log is emptied up to the batch a build took in once every gold asset downstream of
it was built by that build: a delivery that touches only customers rebuilds only what reads customers,
and leaves the orders log alone.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dagster as dg
import duckdb

from clawdata.warehouse import ledger


def _taken_in_by_gold(table: str) -> str:
    return f"gold<-{table}"  # the ledger row: the last batch of `table` a gold build took in


@dataclass(frozen=True)
class Plan:
    full: bool
    reason: str
    until: dict[str, int]  # silver table -> its last batch, taken in by this build


def consumers(table: str, deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> set[dg.AssetKey]:
    """The gold assets downstream of silver `table`, directly or through other gold assets."""
    found, frontier = set(), {dg.AssetKey(table)}
    while frontier:
        frontier = {key for key, parents in deps.items() if key not in found and frontier & set(parents)}
        found |= frontier
    return found


def plan(conn: duckdb.DuckDBPyConnection, selected: set[dg.AssetKey], deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]],
         requested: bool, changed_models: list[str]) -> Plan:
    ledger.ensure(conn)
    silver = ledger.silver_layers(conn)
    read = sorted(t for t in silver if consumers(t, deps) & selected)
    until = {t: silver[t].last_batch for t in read}
    if requested:
        return Plan(True, "full refresh requested by the run", until)
    if changed_models:
        return Plan(True, f"model code changed: {', '.join(changed_models)}", until)
    behind = [t for t in read if (taken := ledger.layer(conn, _taken_in_by_gold(t))) is None
              or silver[t].full_batch > taken.last_batch]
    if behind:
        return Plan(True, f"no gold build since these were built in full: {', '.join(behind)}", until)
    return Plan(False, "incremental: the silver changes since the last gold build", until)


def taken_in(conn: duckdb.DuckDBPyConnection, built: Plan, materialized: set[dg.AssetKey],
             deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> None:
    """Record what the build took in; empty the logs whose every consumer it built."""
    for table, batch in built.until.items():
        if consumers(table, deps) <= materialized:
            conn.execute(f"DELETE FROM {ledger.changes_table(table)} WHERE _batch <= ?", [batch])
            ledger.record_layer(conn, _taken_in_by_gold(table), None, batch, full=built.full)
