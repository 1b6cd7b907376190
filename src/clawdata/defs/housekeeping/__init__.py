"""Keeping the deployment healthy: failure alerts and run retention."""

import dagster as dg

from clawdata.defs.housekeeping.alerts import run_failure_alert
from clawdata.defs.housekeeping.retention import purge_old_runs, purge_old_runs_daily

defs = dg.Definitions(jobs=[purge_old_runs], schedules=[purge_old_runs_daily], sensors=[run_failure_alert])
