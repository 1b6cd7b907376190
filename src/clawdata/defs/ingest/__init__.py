"""Bronze and silver: the CSV sources loaded and cleaned in Python on DuckDB."""

import dagster as dg

from clawdata.defs.ingest.assets import build_ingest_assets
from clawdata.defs.ingest.sources import SOURCES

defs = dg.Definitions(assets=[a for source in SOURCES for a in build_ingest_assets(source)])
