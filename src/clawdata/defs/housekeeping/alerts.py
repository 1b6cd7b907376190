"""A failed run posts one short message to a webhook (Slack-compatible `{"text": ...}`).

The URL comes from CLAWDATA_ALERT_WEBHOOK_URL (a secret: it is never logged or printed); without it
the sensor skips. CLAWDATA_UI_URL is the address people open the UI at, for the link in the message.
"""

import os

import dagster as dg
import requests

from clawdata import settings

WEBHOOK_ENV = "CLAWDATA_ALERT_WEBHOOK_URL"


def failure_message(run_id: str, job_name: str, step_failures: list[tuple[str, str]], run_error: str | None) -> dict:
    """The payload: a run, its job, each failed step with the first line of its cause, a link."""
    ui = settings.ui_url()
    lines = [f"clawdata run {run_id[:8]} ({job_name}) failed"]
    lines += [f"• {step}: {cause}" for step, cause in step_failures] or [f"• {run_error or 'run failed'}"]
    lines.append(f"{ui}/runs/{run_id}")
    return {"text": "\n".join(lines)}


def _first_line(text: str | None, limit: int = 300) -> str:
    return next((l.strip() for l in (text or "").splitlines() if l.strip()), "")[:limit]


def _cause(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:  # our bad-input and audit failures
        return _first_line(data.user_failure_data.description)
    error = data.error
    while error is not None and error.cause is not None:  # the user-code error inside Dagster's wrappers
        error = error.cause
    return _first_line(error.message if error else None) or "step failed"


@dg.run_failure_sensor(
    name="run_failure_alert",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Posts a short message about every failed run to ${WEBHOOK_ENV} (off when unset).",
)
def run_failure_alert(context: dg.RunFailureSensorContext):
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return dg.SkipReason(f"{WEBHOOK_ENV} is not set: alerts are off")
    run = context.dagster_run
    steps = [(e.step_key, _cause(e)) for e in context.get_step_failure_events()]
    payload = failure_message(run.run_id, run.job_name, steps, context.failure_event.message)
    try:
        requests.post(url, json=payload, timeout=10).raise_for_status()
    except requests.RequestException as e:
        # Never the URL (a secret): requests puts it into most of its messages.
        raise dg.Failure(f"posting the alert for run {run.run_id} failed ({type(e).__name__})") from None
    context.log.info(f"alert posted for run {run.run_id}")
