"""What every concern shares: the warehouse resource and the executor."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from clawdata import settings

defs = dg.Definitions(
    resources={"duckdb": DuckDBResource(database=dg.EnvVar(settings.WAREHOUSE_ENV))},
    # One process per run, steps in sequence: every step writes the same single-writer DuckDB
    # file, so separate step processes would only wait on each other (and each costs a Python
    # start). Runs still serialize on the warehouse pool across processes and containers.
    executor=dg.in_process_executor,
)
