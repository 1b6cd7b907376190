"""The embedded default: a Dagster instance in DAGSTER_HOME (SQLite), runs executed in this process."""

import logging
import os
import re
import socket
import sys
from contextlib import contextmanager, redirect_stdout
from collections.abc import Iterator, Sequence
from pathlib import Path

from clawdata import settings
from clawdata.cli.progress import FAILED_ROWS, INTERRUPTED_TEXT, RunEvent, check_detail, failure_text, rows_detail

EVENT_LOG = """\
# Dagster's SQLite event log (the same files), with its connections kept open: cli/local_storage.py.
event_log_storage:
  module: clawdata.cli.local_storage
  class: ClawdataSqliteEventLogStorage
  config:
    base_dir: {home}/history/runs  # where Dagster's default storage keeps them; kept in step if this folder moves
"""
CREATED_BY = "# Created by clawdata on first use."
# The local instance: SQLite storage (Dagster's default), telemetry off, and the warehouse pool
# limited to one slot, so the CLI, `dagster dev` and its daemon never open the file together.
LOCAL_DAGSTER_YAML = f"""\
{CREATED_BY} SQLite storage in this folder.
telemetry:
  enabled: false
nux:  # no "join the community" dialog over the UI of `clawdata dagster dev` (as in the stack)
  enabled: false
{EVENT_LOG}concurrency:
  pools:
    granularity: op
    default_limit: 1  # {settings.WAREHOUSE_POOL}: DuckDB has a single writer
# Compute logs: Dagster's default, files under this folder's storage/. Tick history is purged by
# Dagster; runs by the purge_old_runs schedule (CLAWDATA_RUN_RETENTION_DAYS).
retention:
  schedule:
    purge_after_days: 30
  sensor:
    purge_after_days: {{skipped: 7, success: 30, failure: 30}}
"""


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or settings.PROJECT_DIR / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    written = config.read_text() if config.exists() else None
    text = written or LOCAL_DAGSTER_YAML
    if text.startswith(CREATED_BY) and "event_log_storage:" not in text:  # made by an earlier clawdata
        text = text.replace("\nconcurrency:", "\n" + EVENT_LOG + "concurrency:", 1)
    # Where this home is now: a moved or copied home keeps its own event logs.
    text = re.sub(r"(?m)^(    base_dir: ).*(/history/runs  # where Dagster)", lambda m: f"{m[1]}{home}{m[2]}",
                  text.replace("{home}", str(home)))
    if text != written:
        config.write_text(text)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def dev_workspace() -> Path:
    """The workspace `clawdata dagster dev` loads: the code location named `clawdata`, as in the CLI's
    local mode and the stack, so sensors and schedules have one state (one cursor) whoever ticks them."""
    from clawdata.cli.graphql import DEFINITIONS, LOCATION

    module, attribute = DEFINITIONS
    path = dagster_home() / "workspace.yaml"
    path.write_text(f"# Written by `clawdata dagster dev` at each start.\nload_from:\n  - python_module:\n"
                    f"      module_name: {module}\n      attribute: {attribute}\n      location_name: {LOCATION}\n")
    return path


def local_instance():
    from dagster import DagsterInstance

    dagster_home()
    return DagsterInstance.get()


def recon_repository():
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from clawdata.cli.graphql import DEFINITIONS

    return ReconstructableRepository.for_module(*DEFINITIONS, working_directory=os.getcwd())


def root_cause(error: BaseException) -> str:
    """The innermost exception of a chain, as Python prints it (Dagster's wrappers and the
    importer's frames left out): what the user can act on."""
    import traceback

    while True:
        inner = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if inner is None:
            return "".join(traceback.format_exception_only(type(error), error)).strip()
        error = inner


def _create_run(instance, recon_job, *, remote_job_origin, asset_selection, asset_check_selection, tags, run_config):
    """Dagster's `create_run_for_job`, with the checks to run: that one subsets the job by its assets
    again and records no check selection (their checks alone), where the inbox sensor asks for the
    checks that read what it builds too. As a deployment's launch makes the run (GraphQL's
    `assetCheckSelection`), here from the job `recon_job` already subset."""
    from dagster._core.execution.api import create_execution_plan
    from dagster._core.snap import snapshot_from_execution_plan

    job_def = recon_job.get_definition()
    plan = create_execution_plan(job=job_def, run_config=run_config, instance_ref=instance.get_ref(), tags=tags)
    return instance.create_run(
        job_name=job_def.name, run_id=None, run_config=run_config, status=None, tags=tags, root_run_id=None,
        parent_run_id=None, step_keys_to_execute=plan.step_keys_to_execute,
        execution_plan_snapshot=snapshot_from_execution_plan(plan, job_def.get_job_snapshot_id()),
        job_snapshot=job_def.get_job_snapshot(), parent_job_snapshot=job_def.get_parent_job_snapshot(),
        asset_selection=asset_selection, asset_check_selection=asset_check_selection, resolved_op_selection=None,
        op_selection=None, remote_job_origin=remote_job_origin, job_code_origin=recon_job.get_python_origin(),
        asset_graph=job_def.asset_layer.asset_graph)


def execute(instance, job_name: str, asset_keys: Sequence | None, tags: dict[str, str],
            check_keys: Sequence | None = None) -> Iterator[RunEvent | str]:
    """Execute a run in this process. Yields the run id first, then its progress. `check_keys`: the
    checks to run (None: those of the assets)."""
    from dagster import DagsterEventType
    from dagster._core.execution.api import execute_run_iterator
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin

    from clawdata.cli.graphql import REPOSITORY, code_location_origin

    released = release_dead_runs(instance)
    recon_job = recon_repository().get_reconstructable_job(job_name)
    if asset_keys is not None:
        recon_job = recon_job.get_subset(asset_selection=set(asset_keys),
                                         asset_check_selection=set(check_keys) if check_keys is not None else None)
    run = _create_run(
        instance, recon_job,
        # The run belongs to the code location `clawdata`, as runs launched by `dagster dev` or the UI
        # do: the run-failure sensor sees it, and the UI re-executes it without a location warning.
        remote_job_origin=RemoteJobOrigin(RemoteRepositoryOrigin(code_location_origin(), REPOSITORY), job_name),
        asset_selection=frozenset(asset_keys) if asset_keys is not None else None,
        asset_check_selection=frozenset(check_keys) if asset_keys is not None and check_keys is not None else None,
        tags={**tags, PROCESS_TAG: settings.this_process()},
        # Dagster's console logger prints events, errors with their stack traces: the CLI prints
        # one line per failure instead, and the traces stay in the event log (`clawdata dagster logs`).
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    yield run.run_id
    yield from released
    # Logged as the run is created, not by its steps: what it plans to build, and to check.
    for record in instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                                               limit=100_000).records:
        event = record.event_log_entry.dagster_event
        yield RunEvent("planned", event.asset_key.to_user_string(), event.step_key or "")
    planned = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
                                           limit=100_000).records
    for record in planned:
        check = record.event_log_entry.dagster_event.event_specific_data
        yield RunEvent("check_planned", f"{check.asset_key.to_user_string()}:{check.check_name}")
    # A step's warnings (`context.log.warning`) are log entries, not Dagster events: the iterator
    # below does not yield them. Each is stored as it is logged, and the instance tells its listeners.
    warnings: list[RunEvent] = []
    instance.add_event_listener(run.run_id, lambda entry: warnings.append(warning_of(entry)) if is_warning(entry) else None)
    waited = False
    with open(os.devnull, "w") as quiet, _stderr_fd_to(quiet):
        events = execute_run_iterator(recon_job, run, instance)
        while True:
            with redirect_stdout(quiet):  # only while the run's own code executes
                event = next(events, None)
            yield from warnings
            warnings.clear()
            if event is None:
                return
            mapped = describe_event(event)
            if _waits_for_the_pool(event):  # said once: another process writes the warehouse
                if not waited:
                    waited = True
                    yield RunEvent("warning", event.step_key, "waiting for the warehouse: another run writes it "
                                   f"(its one writer slot, pool {settings.WAREHOUSE_POOL}); `clawdata dagster status` shows the runs")
                continue
            if mapped and mapped.interrupted and instance.get_run_by_id(run.run_id).status.value == "STARTED":
                # Ctrl-C reached a step (Dagster turns SIGINT into an interrupt there; dagster-dbt stops
                # dbt). Marked CANCELING before Dagster ends the run, the run ends CANCELED, not FAILURE.
                instance.report_run_canceling(run, message="Canceled with Ctrl-C in the clawdata CLI")
            if mapped:
                yield mapped


PROCESS_TAG = settings.LOCAL_PROCESS_TAG
UNFINISHED = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def process_gone(process: str, running_at: float) -> bool:
    """Whether the process `host:pid`, known to run the run at `running_at` (epoch seconds), is gone.
    A pid taken since by another program started after that moment. (Its command line tells nothing:
    `dagster dev`'s run workers are `python -c "from multiprocessing.spawn import ..."`.)"""
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's (a shared DAGSTER_HOME): not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    started = started_at(int(pid))
    return started is not None and started > running_at + 2  # /proc's boot time is in whole seconds


def started_at(pid: int) -> float | None:
    """When a process started (epoch seconds), from /proc; None where there is none (macOS)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    ticks = int(stat.rpartition(")")[2].split()[19])  # field 22, starttime: after the command, in brackets
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _process_of(instance, record) -> tuple[str, float] | None:
    """host:pid of the process executing a run, and a moment it ran it: clawdata's tag (set as the
    process created the run), or the pid Dagster's engine logged as the run started (a run of
    `dagster dev`, or of an earlier clawdata), on this machine."""
    from dagster import DagsterEventType

    run = record.dagster_run
    if PROCESS_TAG in run.tags:
        return run.tags[PROCESS_TAG], record.create_timestamp.timestamp()
    for event in instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=20).records:
        pid = event.event_log_entry.dagster_event.event_specific_data.metadata.get("pid")
        if pid is not None:
            return f"{socket.gethostname()}:{pid.value}", event.event_log_entry.timestamp
    return None


def release_dead_runs(instance) -> list[RunEvent]:
    """Local runs whose process is gone (killed, the machine restarted): failed, their warehouse slot
    freed, so the next run does not wait for it forever (the daemon's run monitoring does this in the
    stack; locally there is none)."""
    from dagster import DagsterRunStatus, RunsFilter

    said = []
    statuses = [DagsterRunStatus(s) for s in UNFINISHED]
    for record in instance.get_run_records(RunsFilter(statuses=statuses)):
        run = record.dagster_run
        found = _process_of(instance, record)
        if found and process_gone(*found):
            process = found[0]
            instance.report_run_failed(run, message=f"The process that ran it ({process}) is gone: "
                                                    "killed, or the machine restarted")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            said.append(RunEvent("warning", "run", f"run {run.run_id[:8]} ended with its process ({process}): "
                                                   "marked failed, its hold on the warehouse released", ok=False))
    # A run that ended without giving its slot back (its output closed under it: `| head`).
    info = instance.event_log_storage.get_concurrency_info(settings.WAREHOUSE_POOL)
    for run_id in {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            said.append(RunEvent("warning", "run", f"run {run_id[:8]} ended holding the warehouse: released", ok=False))
    return said


def _waits_for_the_pool(event) -> bool:
    """Dagster's "Step (still) blocked by limit for pool": the one engine event that names its pool."""
    return event.event_type_value == "ENGINE_EVENT" and "pool" in (getattr(event.event_specific_data, "metadata", None) or {})


@contextmanager
def _stderr_fd_to(stream) -> Iterator[None]:
    """File descriptor 2 goes to `stream` while the run executes. Dagster's log capture starts helper
    processes (tail, an orphan watcher) that inherit it, and on Ctrl-C they print KeyboardInterrupt
    tracebacks there. What the steps write to stderr is in the run's captured logs all the same."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(stream.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def is_warning(entry) -> bool:
    """A warning a step logged. (Failures are Dagster events, shown apart; the errors Dagster logs
    for each step not run behind a failure are counted in the summary as skipped checks.)"""
    return not entry.is_dagster_event and entry.level == logging.WARNING


def warning_of(entry) -> RunEvent:
    return RunEvent("warning", entry.step_key or "run", entry.user_message, ok=False)


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
        interrupted = data.error_source is not None and data.error_source.value == "INTERRUPT"
        text = INTERRUPTED_TEXT if interrupted else failure_text(description, causes)
        failed = data.user_failure_data.metadata.get(settings.FAILED_METADATA) if data.user_failure_data else None
        return RunEvent("step_failure", event.step_key, text, ok=False, interrupted=interrupted,
                        failed=failed.value if failed else 1)
    if kind == "ASSET_MATERIALIZATION":
        metadata = event.event_specific_data.materialization.metadata
        rows, reused = metadata.get("dagster/row_count"), bool((metadata.get("reused") or False) and metadata["reused"].value)
        read = metadata.get("rows_read")
        detail = rows_detail(rows.value if rows else None, reused, read.value if read else None)
        return RunEvent("materialized", event.asset_key.to_user_string(), detail, reused=reused)
    if kind == "ASSET_CHECK_EVALUATION":
        evaluation = event.event_specific_data
        failed, kept = evaluation.metadata.get(FAILED_ROWS), evaluation.metadata.get("reused")
        return RunEvent("check", f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}",
                        check_detail(evaluation.description, failed.value if failed else None, evaluation.passed,
                                     bool(kept and kept.value)),
                        ok=evaluation.passed, severity=evaluation.severity.value)
    if kind == "RUN_FAILURE":
        return RunEvent("run_failure", "run", event.message or "run failed", ok=False)
    if kind == "ASSET_OBSERVATION":  # a dbt node the gold step did not build, and why (defs/gold/assets.py)
        why = event.event_specific_data.asset_observation.metadata.get(settings.NOT_BUILT_METADATA)
        return RunEvent("not_built", event.asset_key.to_user_string(), why.value, ok=False) if why else None
    return None
