"""The clawdata code location: everything under defs/, one folder per concern, loaded by Dagster's
own `load_from_defs_folder` (the `[tool.dg]` project in pyproject.toml), then what spans them.

- defs/sources/: one `defs.yaml` per source (clawdata.components.FileSource): bronze and silver;
- defs/gold/: the dbt project (its definitions.py checks it against the declared sources);
- defs/automation/, defs/housekeeping/: schedules, sensors, jobs;
- defs/resources.py: what all share, the warehouse resource and the executor.

Composed here, over all of them: the read path (defs/serving), whose asset follows every asset
that it serves, whoever defines them.
"""

import clawdata.gc_tuning  # noqa: F401 (first: before the defs are imported and loaded)
import clawdata.pool_wait  # noqa: F401 (a run waiting for the warehouse sleeps, and heeds Ctrl-C)

import dagster as dg

from clawdata import settings
from clawdata.defs.serving import replica

# settings.PROJECT_DIR holds pyproject.toml both in a checkout and in the image (/opt/clawdata), where
# the package itself is installed into site-packages.
def _with_the_read_path(loaded: dg.Definitions) -> dg.Definitions:
    return dg.Definitions.merge(loaded, replica.build_defs(loaded))


defs = _with_the_read_path(dg.load_from_defs_folder(path_within_project=settings.PROJECT_DIR))
