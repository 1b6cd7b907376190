"""The dbt project, with its manifest prepared automatically.

dagster-dbt prepares the manifest only under `dagster dev`; `clawdata dagster materialize` on a fresh
clone must work too, so a missing or stale manifest is prepared at load. The Docker image prepares it
at build time, so a deployed code server never parses at start.
"""

from pathlib import Path

from dagster_dbt import DbtProject

from clawdata import settings

dbt_project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)


def _newest_source_mtime(project_dir: Path) -> float:
    inputs = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds", "snapshots"):
        inputs += (project_dir / folder).rglob("*")
    return max((p.stat().st_mtime for p in inputs if p.is_file()), default=0.0)


def prepare_if_stale(project: DbtProject = dbt_project) -> None:
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(project.project_dir):
        project.preparer.prepare(project)
