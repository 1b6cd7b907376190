"""dbt-core, imported by the step that runs dbt, not by every process that loads the definitions.

dagster-dbt 0.29 imports dbt-core at its own import, for dbt's version and four of its enums
(dagster_dbt/compat.py): 1.3-1.5 s of every process that loads the definitions (the code server,
`clawdata dagster dev`, every run worker, runs that build no gold included). dagster-dbt also runs
without dbt-core (its dbt Fusion path): its own copies of those enums, and the manifest's node list
for the default selection. clawdata runs dbt in the step's process (gold/runner.py), so dagster-dbt
is imported with dbt-core hidden, and dbt-core is imported when dbt is about to run.

Not for a project with a selectors.yml: its default selector is evaluated by dbt-core's selection,
which dagster-dbt uses only when it imported dbt-core. The first project loaded in a process decides
(a code location loads one). tests/test_private_apis.py fails when dagster-dbt stops taking this
path, or when its copies of dbt's enums part from the installed dbt-core's.
"""

import importlib.abc
import logging
import sys
from pathlib import Path

SELECTORS = "selectors.yml"  # dbt reads selectors from this file of the project's root only


class _DbtCoreHidden(importlib.abc.MetaPathFinder):
    """Answers every `dbt` module as missing, as dagster-dbt finds it where dbt-core is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "dbt" or name.startswith("dbt."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden while dagster-dbt is imported)", name=name)
        return None


def import_dagster_dbt(project_dir: Path) -> None:
    """Import dagster-dbt, without dbt-core unless dbt-core is imported already or the project has
    selectors (see the module's docstring). Called before anything of clawdata imports dagster-dbt."""
    if "dagster_dbt" in sys.modules:
        return
    if "dbt" in sys.modules or (project_dir / SELECTORS).is_file():  # (dagster-dbt keeps the root handlers itself)
        import dagster_dbt  # noqa: F401
        return
    hidden = _DbtCoreHidden()
    sys.meta_path.insert(0, hidden)
    try:
        import dagster_dbt  # noqa: F401
    finally:
        sys.meta_path.remove(hidden)


def dagster_dbt_selects() -> bool:
    """Whether this process's dagster-dbt evaluates dbt selectors (it imported dbt-core)."""
    from dagster_dbt.compat import DBT_PYTHON_VERSION

    return DBT_PYTHON_VERSION is not None


def imported() -> None:
    """Import dbt-core, keeping the root logger's handlers as dagster-dbt's own import of it does: dbt's
    usage tracker (snowplow_tracker) calls `logging.basicConfig()` at import, and that handler would
    print every record that reaches the root logger (Dagster's included) to stderr once more."""
    if "dbt.cli.main" in sys.modules:
        return
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        import dbt.cli.main  # noqa: F401
    finally:
        root.handlers = handlers
