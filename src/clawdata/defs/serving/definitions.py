"""The read path over the silver and gold assets of this code location."""

import dagster as dg

from clawdata.defs import ingest, resources
from clawdata.defs.gold import definitions as gold
from clawdata.defs.serving import replica

defs = replica.build_defs(dg.Definitions.merge(ingest.defs, gold.defs, resources.defs))
