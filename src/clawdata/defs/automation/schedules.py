"""The job that rebuilds everything, and the schedule that runs it daily."""

import os

import dagster as dg

materialize_all = dg.define_asset_job(
    "materialize_all",
    selection=dg.AssetSelection.all(),
    description="Every asset, CSV to gold, with all asset checks.",
)

# The cron is an environment variable so a deployment (or the end-to-end test) can run it more often.
# Its default state too: a staging copy (or the test stack, whose cron is every minute) may want it
# off until an operator turns it on. Once toggled in the UI, the stored state wins over this default.
_START = os.environ.get("CLAWDATA_DAILY_SCHEDULE", "running").strip().lower()
if _START not in ("running", "stopped"):
    raise ValueError(f"CLAWDATA_DAILY_SCHEDULE must be 'running' or 'stopped', not {_START!r}")

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=materialize_all,
    cron_schedule=os.environ.get("CLAWDATA_DAILY_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("CLAWDATA_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus(_START.upper()),
    description="Rebuild everything once a day.",
)
