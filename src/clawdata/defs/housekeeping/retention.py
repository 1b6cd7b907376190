"""Run retention: runs older than CLAWDATA_RUN_RETENTION_DAYS (default 30; 0 keeps everything) are
deleted with their events and their compute logs, daily.

By hand because Dagster 1.13's own retention (dagster.yaml `retention:`) covers schedule and sensor
ticks only; runs, events and compute logs have no purge of their own in open-source Dagster.
"""

import os
from datetime import datetime, timedelta, timezone

import dagster as dg

RETENTION_ENV = "CLAWDATA_RUN_RETENTION_DAYS"
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def purge_runs(instance: dg.DagsterInstance, days: float, log=None) -> int:
    """Delete finished runs created more than `days` ago: run record, events, compute logs."""
    if days <= 0:
        return 0
    before = datetime.now(timezone.utc) - timedelta(days=days)
    purged = 0
    while True:
        records = instance.get_run_records(dg.RunsFilter(statuses=FINISHED, created_before=before), limit=100)
        if not records:
            return purged
        for record in records:
            run_id = record.dagster_run.run_id
            instance.compute_log_manager.delete_logs(prefix=[run_id])  # every step's log of this run
            instance.delete_run(run_id)
            purged += 1
        if log:
            log.info(f"purged {purged} run(s) created before {before:%Y-%m-%d %H:%M} UTC")


@dg.op
def purge_runs_op(context: dg.OpExecutionContext) -> None:
    days = float(os.environ.get(RETENTION_ENV, "30"))
    purged = purge_runs(context.instance, days, context.log)
    context.log.info(f"{purged} run(s) older than {days:g} days purged" if days > 0 else f"{RETENTION_ENV}=0: runs are kept")


@dg.job(name="purge_old_runs", description="Delete runs (events, compute logs) older than the retention period.")
def purge_old_runs():
    purge_runs_op()


purge_old_runs_daily = dg.ScheduleDefinition(
    name="purge_old_runs_daily",
    job=purge_old_runs,
    cron_schedule="30 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Run retention, once a day.",
)
