"""STACK: the Docker Compose stack, start-up, run launch latency, queue wait, image sizes.

Everything runs under a stack name of its own (harness/compose.py: CLAWDATA_STACK=clawbench-<random>, a
free UI port, its own image tags), so other stacks on the engine are never touched; the stack, its run
containers, volumes, network and image tags are removed on the way out, on failure too.

- Build: `docker compose build` into the stack's tags (cached layers shared; timed, no figure).
- Start: from `docker compose up -d --wait` to every service healthy, and on to the webserver's GraphQL
  API reporting the code location `clawdata` loaded. Once with fresh volumes (a first start: Postgres
  initialises its cluster), then several times after `compose down` without -v (volumes kept). A
  `docker events` stream, read meanwhile, splits each start per service (started, healthy, exited).
- Launch: `launchRun` of one trivial asset (raw_products) through GraphQL, as the CLI does, with no
  other run active; timestamps from the client (submitted, success seen) and from the run's events
  (enqueued, dequeued, starting, started, success): queue to start and submit to success.
- Queue wait when runs pile up: N trivial runs launched at once (N threads, one launchRun each), after
  the single launches, with no other run active; per run, submit to start (the run's startTime) and
  submit to success; medians and maxima, and the time until all are done. The runs share the
  warehouse's pool (one writing step at a time): they queue behind each other, so the wait grows with N.
- Images: `docker image inspect` sizes; the largest site-packages entries of the two clawdata images.
"""

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.core import loadavg, stats
from benchmarks.fmt import f, med, table
from clawdata.cli.graphql import LOCATION, REPOSITORY
from harness.compose import ComposeStack, StackError, docker_problem, remove_stale_stacks

TRIVIAL_ASSET = "raw_products"
ASSET_JOB = "__ASSET_JOB"

LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on PipelineNotFoundError { message } } }"""
RUN = """query($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status creationTime startTime endTime } } }"""
RUN_EVENTS = """query($runId: ID!) { logsForRun(runId: $runId) { __typename ... on EventConnection {
  events { __typename ... on MessageEvent { timestamp message } } } } }"""
SENSOR = "inbox_sensor"
SENSOR_TICKS = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { ticks(limit: 1) { status timestamp } } } } }"""
RECENT_RUNS = """{ runsOrError(limit: 10) { ... on Runs { results { runId creationTime endTime jobName } } } }"""
ACTIVE_RUNS = """{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
  __typename ... on Runs { results { runId status jobName } } } }"""
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
RUN_EVENT_NAMES = {"RunEnqueuedEvent": "enqueued", "RunDequeuedEvent": "dequeued", "RunStartingEvent": "starting",
                   "RunStartEvent": "started", "RunSuccessEvent": "success", "RunFailureEvent": "failure"}


def _docker_time(text: str) -> float:
    """Docker's RFC 3339 timestamps carry nanoseconds, which datetime does not parse."""
    from datetime import datetime

    main, dot, rest = text.partition(".")
    if not dot:  # no fraction: the zone follows the seconds
        main, rest = text[:19], text[19:]
    frac = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    zone = rest[len(frac):] or "Z"
    stamp = datetime.fromisoformat(main + zone.replace("Z", "+00:00"))
    return stamp.timestamp() + (float("0." + frac) if frac else 0.0)


class Stack(ComposeStack):
    """The stack as the benchmark measures it: the deployment's own schedule and sensor settings, so
    nothing but the benchmark's runs competes with a measurement."""

    def __init__(self, repo: Path, work: Path, log=print):
        remove_stale_stacks("clawbench")  # an interrupted benchmark's stack must not load this one's machine
        super().__init__("clawbench", work, repo=repo)
        self.log = log

    def check(self) -> str | None:
        """None if the stack can be measured here, else why not."""
        problem = docker_problem()
        if problem:
            return problem
        for key in ("PYTHON_BASE_IMAGE", "POSTGRES_IMAGE"):
            image = self.settings.get(key)
            if image and subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
                return f"{key}={image} is not on this engine (`make images-offline` builds it)"
        return None

    # ---- start-up ------------------------------------------------------------------------------------

    def _events(self, since: float):
        """Start `docker events` for this stack's containers; returns (process, lines)."""
        cmd = ["docker", "events", "--since", f"{since:.3f}", "--format", "{{json .}}",
               "--filter", f"label=com.docker.compose.project={self.name}", "--filter", "type=container"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        return proc, lines, reader

    def start(self, kind: str) -> dict:
        """`up -d --wait`, then until the code location is loaded; per-service timeline from events."""
        t0 = time.time()
        events, lines, reader = self._events(t0)
        try:
            up = self.compose("up", "-d", "--wait", "--wait-timeout", "300", check=False, timeout=400)
            t_healthy = time.time()
            if up.returncode != 0:
                raise StackError(f"`compose up --wait` exited {up.returncode}: {up.stderr[-1500:]}")
            t_loaded = self.wait_until_loaded(timeout=120, poll=0.05)
            time.sleep(0.3)  # let the last events arrive
        finally:
            events.terminate()
            reader.join(timeout=5)
        services: dict[str, dict] = {}
        for line in lines:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            attributes = e.get("Actor", {}).get("Attributes") or {}
            service = attributes.get("com.docker.compose.service")
            # Run containers (DockerRunLauncher) and one-off `docker run`s inherit the image's compose
            # labels: only the service's own containers, named <stack>-<service>-<n>, count.
            if not service or not attributes.get("name", "").startswith(f"{self.name}-{service}-"):
                continue
            ts = e.get("timeNano", 0) / 1e9 - t0
            if ts < 0:  # the previous `down`, or containers run from the images before this start
                continue
            status = e.get("status") or e.get("Action") or ""
            s = services.setdefault(service, {})
            if status == "start":
                s.setdefault("started_s", ts)
            elif status.startswith("health_status: healthy") or status == "health_status:healthy":
                s.setdefault("healthy_s", ts)
            elif status == "die":
                s.setdefault("exited_s", ts)
        return {"kind": kind, "healthcheck_s": self.healthcheck_durations(), "to_healthy_s": t_healthy - t0,
                "to_loaded_s": (t_loaded - t0) if t_loaded else None, "services": services, "load_at_start": None}

    def healthcheck_durations(self) -> dict:
        """How long each service's healthcheck command takes (docker keeps the last 5 results)."""
        ids = self.compose("ps", "-q", check=False).stdout.split()
        if not ids:
            return {}
        r = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True)
        out = {}
        for c in json.loads(r.stdout or "[]"):
            service = c["Config"]["Labels"].get("com.docker.compose.service")
            log = ((c.get("State") or {}).get("Health") or {}).get("Log") or []
            durations = []
            for entry in log:
                try:
                    start, end = (_docker_time(entry[k]) for k in ("Start", "End"))
                except (KeyError, ValueError):
                    continue
                durations.append(end - start)
            if service and durations:
                out[service] = stats(durations)
        return out

    # ---- run launch latency --------------------------------------------------------------------------

    def wait_first_sensor_tick(self, timeout: float = 120) -> float | None:
        """Seconds until the inbox sensor has ticked once (None if it does not exist or never ticks)."""
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": SENSOR}
        t0 = time.time()
        while time.time() - t0 < timeout:
            data = self.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]
            if data["__typename"] != "Sensor":
                return None
            if data["sensorState"]["ticks"]:
                return time.time() - t0
            time.sleep(1)
        return None

    def wait_idle(self, timeout: float = 900) -> dict:
        """Wait until no run is queued or running (the inbox sensor fills a fresh deployment with a
        run of everything on its first tick; a launch measured meanwhile would wait for its pool slot)."""
        t0, seen = time.time(), {}
        while time.time() - t0 < timeout:
            runs = self.graphql(ACTIVE_RUNS)["runsOrError"].get("results") or []
            for r in runs:
                seen[r["runId"]] = r["jobName"]
            if not runs:
                return {"waited_s": time.time() - t0, "runs": seen}
            time.sleep(0.5)
        raise StackError(f"runs still active after {timeout:.0f} s: {seen}")

    def submit(self) -> tuple[str, float, float]:
        """launchRun of the trivial asset, as the CLI does it; (run id, submitted, acknowledged)."""
        params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": ASSET_JOB,
                               "assetSelection": [{"path": [TRIVIAL_ASSET]}]},
                  "executionMetadata": {"tags": [{"key": "clawdata/launched_by", "value": "benchmark"}]}}
        t_submit = time.time()
        result = self.graphql(LAUNCH, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise StackError(f"launchRun: {result}")
        return result["run"]["runId"], t_submit, time.time()

    def wait_done(self, run_ids, timeout: float, poll: float = 0.05) -> dict[str, tuple[dict, float]]:
        """Until every run is terminal: {run id: (its runOrError, when the end was seen)}."""
        done, deadline = {}, time.time() + timeout
        while len(done) < len(run_ids):
            for run_id in (r for r in run_ids if r not in done):
                run = self.graphql(RUN, {"runId": run_id})["runOrError"]
                if run.get("status") in TERMINAL:
                    done[run_id] = (run, time.time())
            if len(done) < len(run_ids) and time.time() > deadline:
                raise StackError(f"runs not done after {timeout:.0f} s: {sorted(set(run_ids) - set(done))}")
            time.sleep(poll)
        return done

    def launch_once(self, timeout: float = 180) -> dict:
        run_id, t_submit, t_ack = self.submit()
        run, t_seen = self.wait_done([run_id], timeout)[run_id]
        marks = {}
        for event in self.graphql(RUN_EVENTS, {"runId": run_id})["logsForRun"].get("events") or []:
            name = RUN_EVENT_NAMES.get(event["__typename"])
            if name and event.get("timestamp"):
                marks.setdefault(name, float(event["timestamp"]) / 1000)
        out = {"run_id": run_id, "status": run["status"], "submit_ack_s": t_ack - t_submit,
               "marks_s": {k: v - t_submit for k, v in marks.items()},  # seconds after submit
               **{f"{k}_s": run[f"{k}Time"] - t_submit if run.get(f"{k}Time") else None for k in ("creation", "start", "end")},
               "seen_s": t_seen - t_submit}
        end = run.get("endTime") or time.time()
        others = self.graphql(RECENT_RUNS)["runsOrError"].get("results") or []
        # Another run alive at any moment between submit and end competed with this one.
        out["overlapping_runs"] = [r["jobName"] for r in others if r["runId"] != run_id and r["creationTime"] <= end
                                   and (r.get("endTime") or float("inf")) >= t_submit]
        queued = marks.get("enqueued") or (run.get("creationTime"))
        out["queue_to_start_s"] = (run["startTime"] - queued) if run.get("startTime") and queued else None
        out["submit_to_success_s"] = (run["endTime"] - t_submit) if run.get("endTime") and run["status"] == "SUCCESS" else None
        segs = [("submit", t_submit), *sorted(marks.items(), key=lambda kv: kv[1])]
        out["segments_s"] = {f"{a}->{b}": tb - ta for (a, ta), (b, tb) in zip(segs, segs[1:])}
        return out

    def pileup(self, runs: int, timeout: float = 900) -> dict:
        """`runs` trivial runs launched at once (one thread each, no other run active): per run, submit
        to start and submit to end; the median and max wait, and how long until all were done."""
        with ThreadPoolExecutor(max_workers=runs) as pool:
            submitted = list(pool.map(lambda _: self.submit(), range(runs)))
        done = self.wait_done([run_id for run_id, _, _ in submitted], timeout, poll=0.25)
        rows = [{"run_id": run_id, "status": done[run_id][0]["status"],
                 "wait_s": done[run_id][0]["startTime"] - t if done[run_id][0].get("startTime") else None,
                 "end_s": done[run_id][0]["endTime"] - t if done[run_id][0].get("endTime") else None}
                for run_id, t, _ in submitted]
        first = min(t for _, t, _ in submitted)
        ends = [done[r][0].get("endTime") for r, _, _ in submitted]
        return {"runs": runs, "per_run": rows, "submit_spread_s": max(t for _, t, _ in submitted) - first,
                "wait_s": stats(r["wait_s"] for r in rows if r["status"] == "SUCCESS"),
                "done_s": stats(r["end_s"] for r in rows if r["status"] == "SUCCESS"),
                "ok": sum(1 for r in rows if r["status"] == "SUCCESS"),
                "all_done_s": max(ends) - first if all(ends) else None}

    # ---- images ----------------------------------------------------------------------------------------

    def image_sizes(self) -> dict:
        images = {"user_code": self.user_code_image, "dagster (webserver, daemon)": self.dagster_image,
                  "postgres": self.settings.get("POSTGRES_IMAGE") or "postgres:16-bookworm",
                  "python base": self.settings.get("PYTHON_BASE_IMAGE") or "python:3.11-slim-bookworm",
                  "user_code :latest": "clawdata/user-code:latest", "dagster :latest": "clawdata/dagster:latest"}
        out = {}
        for label, image in images.items():
            r = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}} {{.Size}}", image], capture_output=True, text=True)
            if r.returncode == 0:
                image_id, size = r.stdout.split()
                out[label] = {"image": image, "id": image_id[:19], "mb": int(size) / 1e6}
        for label, image in (("user_code", self.user_code_image), ("dagster (webserver, daemon)", self.dagster_image)):
            if label in out:
                out[label]["largest"] = self._largest_packages(image)
        return out

    def _largest_packages(self, image: str, top: int = 10) -> list:
        script = "du -sk /opt/venv/lib/python3*/site-packages/* 2>/dev/null | sort -rn | head -n %d; du -sk /opt/venv /opt/clawdata 2>/dev/null" % top
        r = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script],
                           capture_output=True, text=True, timeout=120)
        rows = []
        for line in r.stdout.splitlines():
            size, _, path = line.partition("\t")
            if size.isdigit():
                rows.append({"path": path.replace("/opt/venv/lib/python3.11/site-packages/", ""), "mb": int(size) * 1024 / 1e6})
        return rows


def run_all(repo: Path, work: Path, restarts: int = 3, launches: int = 5, pileup: int = 6, log=print) -> dict:
    stack = Stack(repo, work, log)
    reason = stack.check()
    if reason:
        log(f"stack skipped: {reason}")
        return {"skipped": reason}
    engine = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True).stdout.strip()
    result: dict = {"stack": stack.name, "port": stack.port, "docker_engine": engine, "starts": [], "launches": []}
    try:
        log(f"stack {stack.name}: building images (cached) ...")
        result["build_s"] = stack.build()
        result["images"] = stack.image_sizes()
        log("  first start, fresh volumes ...")
        load = loadavg()
        start = stack.start("first start (fresh volumes)")
        start["load_at_start"] = load
        result["starts"].append(start)
        log(f"    healthy {start['to_healthy_s']:.1f} s, loaded {start['to_loaded_s'] or float('nan'):.1f} s")
        # A fresh deployment fills itself: the inbox sensor's first tick runs everything once. Let that
        # finish before anything else is measured, so that it competes with no measurement.
        tick = stack.wait_first_sensor_tick()
        idle = stack.wait_idle()
        result["initial_runs"] = {**idle, "sensor_first_tick_s": tick}
        if idle["runs"]:
            log(f"    waited {idle['waited_s']:.0f} s for {len(idle['runs'])} run(s) the stack started itself ({sorted(set(idle['runs'].values()))})")
        for i in range(restarts):
            stack.wait_idle()
            result.setdefault("down_s", []).append(stack.down(volumes=False))
            load = loadavg()
            start = stack.start("restart (volumes kept)")
            start["load_at_start"] = load
            result["starts"].append(start)
            log(f"  restart {i + 1}/{restarts}: healthy {start['to_healthy_s']:.1f} s, loaded {start['to_loaded_s'] or float('nan'):.1f} s")
        log(f"  {launches} launches of {TRIVIAL_ASSET} (after one warm-up launch) ...")
        for i in range(launches + 1):
            stack.wait_idle()
            load = loadavg()
            launch = stack.launch_once()
            launch["warmup"] = i == 0
            launch["load_at_start"] = load
            result["launches"].append(launch)
            log(f"    {'warm-up' if i == 0 else f'{i}/{launches}'}: {launch['status']}, queue->start "
                f"{launch['queue_to_start_s'] or float('nan'):.2f} s, submit->success {launch['submit_to_success_s'] or float('nan'):.2f} s"
                f"  [load {load:.1f}]" + (f" overlapping: {launch['overlapping_runs']}" if launch["overlapping_runs"] else ""))
        if pileup:
            stack.wait_idle()
            log(f"  {pileup} launches at once ...")
            load = loadavg()
            result["pileup"] = {**stack.pileup(pileup), "load_at_start": load}
            log(f"    wait submit->start: {f(result['pileup']['wait_s'], 2)} s; all done after {result['pileup']['all_done_s'] or 0:.1f} s")
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"
        log(f"  ! stack: {result['error']}")
        try:
            result["logs_tail"] = stack.compose("logs", "--tail", "30", check=False).stdout[-4000:]
        except Exception:
            pass
    finally:
        log(f"  removing stack {stack.name} ...")
        stack.cleanup()
    return summarize(result)


def summarize(result: dict) -> dict:
    first = [s for s in result["starts"] if s["kind"].startswith("first")]
    restarts = [s for s in result["starts"] if not s["kind"].startswith("first")]
    measured = [l for l in result["launches"] if not l["warmup"] and l["status"] == "SUCCESS"]
    services = sorted({svc for s in result["starts"] for svc in s["services"]})

    def per_service(starts):
        return {svc: {k: stats(s["services"].get(svc, {}).get(k) for s in starts) for k in ("started_s", "healthy_s", "exited_s")}
                for svc in services}

    result["summary"] = {
        **{f"{name}_{k}": stats(s[f"to_{k}"] for s in starts) for name, starts in (("first_start", first), ("restart", restarts))
           for k in ("healthy_s", "loaded_s")},
        "first_start_services": per_service(first), "restart_services": per_service(restarts),
        "launch_queue_to_start_s": stats(l["queue_to_start_s"] for l in measured),
        "launch_submit_to_success_s": stats(l["submit_to_success_s"] for l in measured),
        "launch_submit_to_seen_s": stats(l["seen_s"] for l in measured),
        "launch_segments_s": {k: stats(l["segments_s"].get(k) for l in measured) for k in sorted({k for l in measured for k in l["segments_s"]})},
        "launches_ok": len(measured), "launches_failed": sum(1 for l in result["launches"] if l["status"] != "SUCCESS"),
        "launches_overlapping_other_runs": sum(1 for l in measured if l.get("overlapping_runs")),
        "launch_load_avg": stats(l.get("load_at_start") for l in measured),
    }
    return result


def _timeline(services: dict) -> str:
    return "; ".join(f"{name} " + ", ".join(f"{k[:-2]} {med(v)}" for k, v in d.items() if v) for name, d in services.items())


def render(st: dict) -> str:
    out = ["STACK  Docker Compose, DockerRunLauncher, images already built"]
    if st.get("skipped"):
        return "\n".join(out + [f"  skipped: {st['skipped']}"])
    if st.get("error"):
        out.append(f"  ERROR: {st['error']}")
    sm = st.get("summary") or {}
    out.append(f"  stack {st['stack']} (build, cached: {st.get('build_s', 0):.0f} s)" + (f"; docker engine {st['docker_engine']}" if st.get("docker_engine") else ""))
    out.append(table([["first start, fresh volumes", f(sm.get("first_start_healthy_s")), f(sm.get("first_start_loaded_s"))],
                      [f"restart after down ({(sm.get('restart_healthy_s') or {}).get('n', 0)}x)", f(sm.get("restart_healthy_s")),
                       f(sm.get("restart_loaded_s"))]], ["`compose up -d --wait`", "to healthy s", "to code location loaded s"]))
    if sm.get("restart_services"):
        out.append("  restart timeline (median s after `up`): " + _timeline(sm["restart_services"]))
    if sm.get("first_start_services"):
        out.append("  first start timeline (s after `up`):     " + _timeline(sm["first_start_services"]))
    hc = {}
    for start in st.get("starts") or []:
        for svc, v in (start.get("healthcheck_s") or {}).items():
            hc.setdefault(svc, []).append(v["median"])
    if hc:
        out.append("  healthcheck command duration (median s): " + "; ".join(f"{svc} {med(stats(v), 2)}" for svc, v in sorted(hc.items())))
    init = st.get("initial_runs")
    if init and init.get("runs"):
        out.append(f"  after the first start: waited {init['waited_s']:.0f} s for {len(init['runs'])} run(s) the stack started by itself"
                   f" ({', '.join(sorted(set(init['runs'].values())))}: the inbox sensor's first tick fills a fresh deployment);"
                   " restarts and launches are measured with no run active")
    order = ["submit", "enqueued", "dequeued", "starting", "started", "success"]
    segments = sorted((sm.get("launch_segments_s") or {}).items(),
                      key=lambda kv: order.index(kv[0].split("->")[0]) if kv[0].split("->")[0] in order else 99)
    rows = [["queue -> start (run's startTime - enqueued)", f(sm.get("launch_queue_to_start_s"), 2)],
            ["submit -> success (run's endTime - client submit)", f(sm.get("launch_submit_to_success_s"), 2)],
            ["submit -> success seen by a 50 ms poll", f(sm.get("launch_submit_to_seen_s"), 2)],
            *([f"  segment {k}", f(v, 2)] for k, v in segments)]
    out += ["", table(rows, [f"run launch of {TRIVIAL_ASSET}: {sm.get('launches_ok', 0)} runs after 1 warm-up", "s"]),
            f"  load average during the launches: {f(sm.get('launch_load_avg'))}; launches overlapping another run:"
            f" {sm.get('launches_overlapping_other_runs', 0)} (each launch waits until no run is active)"]
    pile = st.get("pileup")
    if pile:
        out.append(f"  queue wait when runs pile up: {pile['runs']} runs of {TRIVIAL_ASSET} launched at once (within"
                   f" {pile['submit_spread_s']:.2f} s), {pile['ok']} succeeded: submit -> start median {med(pile['wait_s'], 2)} s,"
                   f" max {(pile['wait_s'] or {}).get('max', 0):.2f} s; submit -> success median {med(pile.get('done_s'), 2)} s, max"
                   f" {(pile.get('done_s') or {}).get('max', 0):.2f} s; all done {pile['all_done_s'] or 0:.1f} s after the first submit"
                   f" (the warehouse pool lets one writing step run at a time: the runs queue behind each other)"
                   f" [load {pile.get('load_at_start', 0):.1f}]")
    images = st.get("images") or {}
    if images:
        out += ["", "  images (docker image inspect .Size, MB): " + "; ".join(f"{k} {v['mb']:.0f} ({v['image']})" for k, v in images.items())]
        for label in ("user_code", "dagster (webserver, daemon)"):
            if (images.get(label) or {}).get("largest"):
                out.append(f"  largest in {label}: " + ", ".join(f"{b['path']} {b['mb']:.0f}" for b in images[label]["largest"]))
    return "\n".join(out)
