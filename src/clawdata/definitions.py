"""The clawdata code location: every module under defs/, one folder per concern, loaded by Dagster's
own `load_from_defs_folder` (the `[tool.dg]` project in pyproject.toml).

Every module there is loaded: a module's one Definitions object (the folders' `__init__.py`, and
`definitions.py` where a concern is built from another's: gold checks its keys against ingest's,
serving reads silver and gold), or else the Dagster objects it defines (sensors, schedules, jobs).
`defs/resources.py` holds what all share: the warehouse resource and the executor.
"""

import dagster as dg

from clawdata import settings

# settings.PROJECT_DIR holds pyproject.toml both in a checkout and in the image (/opt/clawdata), where
# the package itself is installed into site-packages.
defs = dg.load_from_defs_folder(path_within_project=settings.PROJECT_DIR)
