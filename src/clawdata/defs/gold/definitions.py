"""The gold Definitions of the configured dbt project (CLAWDATA_DBT_PROJECT_DIR), checked against
bronze and silver for colliding keys. Its own module, so that importing `clawdata.defs.gold` (to
build another project's defs, as the tests do) loads no project."""

from clawdata.defs import gold, ingest
from clawdata.gold import project

defs = gold.build_defs(project.load(), others=ingest.defs)
