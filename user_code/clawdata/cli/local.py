"""The embedded default: a Dagster instance in DAGSTER_HOME (SQLite), runs executed in this process."""

import os
from contextlib import redirect_stdout
from collections.abc import Iterator, Sequence
from pathlib import Path

from clawdata import settings
from clawdata.cli.progress import RunEvent, failure_text, rows_detail

# The local instance: SQLite storage (Dagster's default), telemetry off, and the warehouse pool
# limited to one slot, so the CLI, `dagster dev` and its daemon never open the file together.
LOCAL_DAGSTER_YAML = f"""\
# Created by clawdata on first use. SQLite storage in this folder.
telemetry:
  enabled: false
concurrency:
  pools:
    granularity: op
    default_limit: 1  # {settings.WAREHOUSE_POOL}: DuckDB has a single writer
"""


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or settings.PROJECT_DIR / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def local_instance():
    from dagster import DagsterInstance

    dagster_home()
    return DagsterInstance.get()


def recon_repository():
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    return ReconstructableRepository.for_module("clawdata.definitions", "defs", working_directory=os.getcwd())


def execute(instance, job_name: str, asset_keys: Sequence | None, tags: dict[str, str]) -> Iterator[RunEvent | str]:
    """Execute a run in this process. Yields the run id first, then its progress."""
    from dagster._core.execution.api import execute_run_iterator

    recon_job = recon_repository().get_reconstructable_job(job_name)
    if asset_keys is not None:
        recon_job = recon_job.get_subset(asset_selection=set(asset_keys))
    run = instance.create_run_for_job(
        job_def=recon_job.get_definition(),
        job_code_origin=recon_job.get_python_origin(),
        asset_selection=frozenset(asset_keys) if asset_keys is not None else None,
        tags=tags,
        # Dagster's console logger would print every event; the CLI prints its own summary.
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    yield run.run_id
    with open(os.devnull, "w") as quiet:
        events = execute_run_iterator(recon_job, run, instance)
        while True:
            with redirect_stdout(quiet):  # only while the run's own code executes
                event = next(events, None)
            if event is None:
                return
            mapped = describe_event(event)
            if mapped:
                yield mapped


def describe_event(event) -> RunEvent | None:
    """A Dagster event as the CLI reports it (None for events it does not show)."""
    kind = event.event_type_value
    if kind == "STEP_START":
        return RunEvent("step_start", event.step_key)
    if kind == "STEP_FAILURE":
        data = event.event_specific_data
        causes = []
        error = data.error
        while error is not None:
            causes.append(error.message)
            error = error.cause
        description = data.user_failure_data.description if data.user_failure_data else None
        return RunEvent("step_failure", event.step_key, failure_text(description, causes), ok=False)
    if kind == "ASSET_MATERIALIZATION":
        metadata = event.event_specific_data.materialization.metadata
        rows, reused = metadata.get("dagster/row_count"), metadata.get("reused")
        detail = rows_detail(rows.value if rows else None, bool(reused and reused.value))
        return RunEvent("materialized", event.asset_key.to_user_string(), detail)
    if kind == "ASSET_CHECK_EVALUATION":
        evaluation = event.event_specific_data
        return RunEvent("check", f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}", ok=evaluation.passed)
    if kind == "RUN_FAILURE":
        return RunEvent("run_failure", "run", event.message or "run failed", ok=False)
    return None
