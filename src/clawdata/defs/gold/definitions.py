"""The gold Definitions of the configured dbt project (CLAWDATA_DBT_PROJECT_DIR), checked against
the declared sources' tables and keys. Its own module, so that importing `clawdata.defs.gold` (to
build another project's defs, as the tests do) loads no project."""

from clawdata.defs import gold
from clawdata.gold import project
from clawdata.sources.declarations import all_sources

defs = gold.build_defs(project.load(), sources=all_sources())
