"""Whether a gold build can be incremental, and what it has taken in once it succeeded.

The silver change logs (warehouse/ledger.py) hold what gold has not yet taken in; the project's
incremental models read them (dbt/macros/clawdata_changes.sql). A build must be full
(`dbt build --full-refresh`) when gold has no record of a complete build, when a silver table was
rebuilt in full since (its log restarted empty), when a selected model's code changed since it was
built, or when the run asks for it. Models that are tables are rebuilt in full either way.
"""

from dataclasses import dataclass

import duckdb

from clawdata.warehouse import ledger

LAYER = "gold"  # gold's row in the ledger: the last silver batch a complete build took in


@dataclass(frozen=True)
class Plan:
    full: bool
    reason: str
    until: int  # the last silver batch this build takes in


def plan(conn: duckdb.DuckDBPyConnection, requested: bool, changed_models: list[str]) -> Plan:
    ledger.ensure(conn)
    silver = ledger.silver_layers(conn)
    state = ledger.layer(conn, LAYER)
    until = max((layer.last_batch for layer in silver.values()), default=0)
    rebuilt = sorted(t for t, layer in silver.items() if state is None or layer.full_batch > state.last_batch)
    if requested:
        return Plan(True, "full refresh requested by the run", until)
    if changed_models:
        return Plan(True, f"model code changed: {', '.join(changed_models)}", until)
    if state is None:
        return Plan(True, "no complete gold build recorded in this warehouse", until)
    if rebuilt:
        return Plan(True, f"rebuilt in full since the last gold build: {', '.join(rebuilt)}", until)
    return Plan(False, f"incremental: silver changes after batch {state.last_batch}", until)


def taken_in(conn: duckdb.DuckDBPyConnection, built: Plan) -> None:
    """A complete gold build succeeded: record it and empty what it took in from the change logs."""
    for table in ledger.silver_layers(conn):
        conn.execute(f"DELETE FROM {ledger.changes_table(table)} WHERE _batch <= ?", [built.until])
    ledger.record_layer(conn, LAYER, None, built.until, full=built.full)
