"""Gold's side of silver's change logs (warehouse/ledger.py).

The silver change logs hold what gold has not yet taken in; incremental models that read them
(dbt/macros/clawdata_changes.sql) recompute only the groups those rows touch. A log restarts empty
when its silver table is rebuilt in full, so a model that reads it must then start over (plan.py).

A silver table's log is emptied up to the batch a build took in once every gold asset downstream of
it was built by that build: a delivery that touches only customers rebuilds only what reads
customers, and leaves the orders log alone.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg
import duckdb

from clawdata.warehouse import ledger


def _taken_in_by_gold(table: str) -> str:
    return f"gold<-{table}"  # the ledger row: the last batch of `table` a gold build took in


@dataclass(frozen=True)
class Logs:
    until: dict[str, int]  # silver table -> its last batch, taken in by this build
    restarted: frozenset[str]  # silver tables rebuilt in full since gold last took them in
    # silver table -> the batch after which its log holds every change (emptied up to the batch gold
    # took in, restarted at a full build)
    complete_after: dict[str, int] = field(default_factory=dict)


def consumers(table: str, deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> set[dg.AssetKey]:
    """The gold assets downstream of silver `table`, directly or through other gold assets."""
    found, frontier = set(), {dg.AssetKey(table)}
    while frontier:
        frontier = {key for key, parents in deps.items() if key not in found and frontier & set(parents)}
        found |= frontier
    return found


def read(conn: duckdb.DuckDBPyConnection, deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> Logs:
    ledger.ensure(conn)
    silver = {t: layer for t, layer in ledger.silver_layers(conn).items() if consumers(t, deps)}
    taken = {t: ledger.layer(conn, _taken_in_by_gold(t)) for t in silver}
    restarted = frozenset(t for t, layer in silver.items() if taken[t] is None or layer.full_batch > taken[t].last_batch)
    return Logs({t: layer.last_batch for t, layer in silver.items()}, restarted,
                {t: max(layer.full_batch, taken[t].last_batch if taken[t] else layer.full_batch) for t, layer in silver.items()})


def reads_restarted(key: dg.AssetKey, logs: Logs, deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> bool:
    return any(key in consumers(table, deps) for table in logs.restarted)


def taken_in(conn: duckdb.DuckDBPyConnection, logs: Logs, materialized: set[dg.AssetKey],
             deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> None:
    """Record what the build took in; empty the logs whose every consumer it built."""
    for table, batch in logs.until.items():
        if consumers(table, deps) <= materialized:
            conn.execute(f"DELETE FROM {ledger.changes_table(table)} WHERE _batch <= ?", [batch])
            ledger.record_layer(conn, _taken_in_by_gold(table), None, batch, full=False)
