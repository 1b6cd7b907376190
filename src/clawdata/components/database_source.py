"""DatabaseSource: a table of the team's own database (Postgres, MySQL, SQL Server, SQLite: any
SQLAlchemy URL dlt supports) becomes bronze and silver assets, declared in YAML.

dlt loads it (clawdata/sources/database.py): the first load takes the whole table, later loads the
rows whose cursor moved; silver merges by key as for files, with the same audits, checks, replica,
lineage into dbt and `--full-refresh` (the table reloaded in full). The password comes from the
environment, never from the declaration. `clawdata source add NAME --from URL --table T --key K`
writes one from the table as it is.
"""

import dagster as dg

from clawdata.defs.ingest.assets import build_ingest_assets
from clawdata.sources.database import DatabaseSourceSpec


class DatabaseSource(dg.Component, dg.Resolvable, DatabaseSourceSpec):
    """A database table as a source: `raw_NAME` (bronze, loaded by dlt) and `slv_NAME` (silver)."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return dg.Definitions(assets=build_ingest_assets(self, str(context.path / "defs.yaml")))
