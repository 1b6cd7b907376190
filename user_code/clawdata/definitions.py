"""The clawdata code location: one Definitions merged from a folder per concern under defs/."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from clawdata import settings
from clawdata.defs import automation, gold, housekeeping, ingest, serving

defs = dg.Definitions.merge(
    ingest.defs,
    gold.build_defs(gold.project.load(), others=ingest.defs),
    automation.defs,
    housekeeping.defs,
    dg.Definitions(
        resources={"duckdb": DuckDBResource(database=dg.EnvVar(settings.WAREHOUSE_ENV))},
        # One process per run, steps in sequence: every step writes the same single-writer DuckDB
        # file, so separate step processes would only wait on each other (and each costs a Python
        # start). Runs still serialize on the warehouse pool across processes and containers.
        executor=dg.in_process_executor,
    ),
)
defs = dg.Definitions.merge(defs, serving.build_defs(defs))  # the read path, over whatever defs holds
