"""`clawdata dagster dev` serves the code location as `clawdata`, the name the CLI's local mode and the
stack use: a `sensor tick` from the CLI continues the daemon's cursor (one cursor per sensor), and
`--url` works against it."""

import os
import signal
import subprocess
import time

import requests

from tests.conftest import CLAWDATA, ROOT, make_project, run_cli
from tests.stack.harness import free_port
from tests.status_readers import same_status

ACTIVE = "{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) { ... on Runs { results { runId } } } }"
TICKS = """
query { sensorOrError(sensorSelector: {repositoryLocationName: "clawdata", repositoryName: "__repository__",
  sensorName: "inbox_sensor"}) { ... on Sensor { sensorState { ticks(limit: 100) { status skipReason } } } } }
"""


def test_sensor_tick_continues_the_daemons_cursor(tmp_path):
    paths = make_project(tmp_path)
    for f in paths["sample"].iterdir():  # no file: the daemon's first tick records none, and asks for
        f.unlink()                         # what was never built (the sources' tables, built empty)
    port = free_port()
    env = {**paths["env"], "CLAWDATA_SENSOR_INTERVAL_SECONDS": "5"}
    dev = subprocess.Popen([str(CLAWDATA), "dagster", "dev", "--port", str(port)], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, tick = time.monotonic() + 600, None
        while not tick:  # the daemon's first tick of the sensor, seen through dev's webserver
            assert dev.poll() is None and time.monotonic() < deadline, "no daemon tick of inbox_sensor"
            try:
                data = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": TICKS}, timeout=10).json()["data"]
                ticks = (data["sensorOrError"].get("sensorState") or {}).get("ticks") or []
                done = [t for t in ticks if t["status"] != "STARTED"]
                tick = done[-1] if done else None  # the daemon's first tick
            except (requests.RequestException, KeyError, TypeError, ValueError):
                pass
            time.sleep(1)
        assert tick["status"] == "SUCCESS", tick  # a run asked for: nothing was ever built

        # The CLI's local mode, beside the running dev: the same sensor state, so not a first tick.
        local = run_cli(paths["env"], "dagster", "sensor", "tick", "inbox_sensor")
        assert local.returncode == 0, local.stdout + local.stderr
        assert "skipped: no new or changed files" in local.stdout, local.stdout

        remote = run_cli(paths["env"], "dagster", "--url", f"http://127.0.0.1:{port}", "status")
        assert remote.returncode == 0, remote.stdout + remote.stderr
        assert "inbox_sensor" in remote.stdout

        # The daemon's records (heartbeats, sensor states and ticks, its runs once they end), read by
        # local `status` from Dagster's files alone, as through Dagster's API.
        while requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": ACTIVE}, timeout=10).json()["data"]["runsOrError"]["results"]:
            assert dev.poll() is None and time.monotonic() < deadline, "the daemon's runs did not end"
            time.sleep(1)
        files = same_status(paths["env"])
        assert files is not None and {d["daemonType"] for d in files["instance"]["daemonHealth"]["allDaemonStatuses"] if d["healthy"]}
        ticked = {s["name"]: s["sensorState"]["ticks"] for r in files["repositoriesOrError"]["nodes"] for s in r["sensors"]}
        assert ticked["inbox_sensor"], ticked
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
