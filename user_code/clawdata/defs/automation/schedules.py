"""The job that rebuilds everything, and the schedule that runs it daily."""

import os

import dagster as dg

materialize_all = dg.define_asset_job(
    "materialize_all",
    selection=dg.AssetSelection.all(),
    description="Every asset, CSV to gold, with all asset checks.",
)

# The cron is an environment variable so a deployment (or the end-to-end test) can run it more often.
daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=materialize_all,
    cron_schedule=os.environ.get("CLAWDATA_DAILY_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("CLAWDATA_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuild everything once a day.",
)
