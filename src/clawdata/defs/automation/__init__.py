"""What keeps the warehouse fresh without anyone asking: a daily schedule and an inbox sensor."""

import dagster as dg

from clawdata.defs.automation.inbox_sensor import inbox_sensor
from clawdata.defs.automation.schedules import daily_refresh, materialize_all

defs = dg.Definitions(jobs=[materialize_all], schedules=[daily_refresh], sensors=[inbox_sensor])
