"""Deliveries into a stack's inbox volume, as a careful producer makes them, for the stack tests."""

import time
from pathlib import Path

from clawdata.cli.graphql import LOCATION, REPOSITORY

INBOX = "/var/lib/clawdata/inbox"
SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) { ... on Sensor { sensorState { ticks(limit: 1) { status } } } }
}
"""


def drop(stack, name: str, content: str, tmp: Path) -> None:
    """Copy under a name no reader matches, then rename: the sensor never sees half a file. On a
    fresh stack the sensor's first tick only records what is there, so wait for it first."""
    wait_for_first_sensor_tick(stack)
    local = tmp / name
    local.write_text(content)
    stack.compose("cp", str(local), f"user_code:{INBOX}/.{name}.part")
    stack.compose("exec", "-T", "user_code", "mv", f"{INBOX}/.{name}.part", f"{INBOX}/{name}")


def remove(stack, *names: str) -> None:
    stack.compose("exec", "-T", "user_code", "rm", "-f", *(f"{INBOX}/{n}" for n in names), check=False)


def wait_for_first_sensor_tick(stack, timeout: float = 120) -> None:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": "inbox_sensor"}
    deadline = time.monotonic() + timeout
    while not [t for t in stack.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]
                if t["status"] in ("SKIPPED", "SUCCESS")]:
        assert time.monotonic() < deadline, f"inbox_sensor has not ticked within {timeout} s"
        time.sleep(1)
