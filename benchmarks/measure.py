"""Measuring one command: wall time, CPU time and peak memory of its whole process tree.

Memory: psutil is not a dependency, so a thread samples /proc every SAMPLE_SECONDS: it finds every
descendant of the started process (by parent pid) and sums their resident set sizes (VmRSS). That
peak covers dbt, which runs as a subprocess of the Dagster run. Shared pages (libraries) count once
per process, so the sum is an upper bound; `ru_maxrss` (the largest single process, from wait4) is
kept beside it. A process living shorter than one sample can be missed.

CPU: user + system time from wait4's rusage, which includes every descendant that was waited for
(dbt is). On a machine shared with other jobs, CPU time moves much less than wall time.
"""

import os
import statistics
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Measured:
    command: str
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the tree (waited-for descendants)
    peak_tree_rss_mb: float  # sampled sum over the process tree
    peak_process_rss_mb: float  # ru_maxrss: the largest single process
    started_at: float  # epoch seconds
    ended_at: float
    log: str

    def as_dict(self) -> dict:
        return asdict(self)


def _tree_rss(root: int) -> tuple[int, int]:
    """(sum of RSS over root and its descendants, largest single RSS), in bytes."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses; split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(name)] = int(fields[1])
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    total = largest = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss = int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        total += rss
        largest = max(largest, rss)
    return total, largest


class _Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_single = pid, 0, 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            total, largest = _tree_rss(self.pid)
            self.peak, self.peak_single = max(self.peak, total), max(self.peak_single, largest)
            self._halt.wait(SAMPLE_SECONDS)

    def stop(self):
        self._halt.set()
        self.join()


def run(cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None, timeout: float = 7200) -> Measured:
    """Run `cmd` to its end, output to `log`; measure it. Never raises on a non-zero exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        sampler = _Sampler(proc.pid)
        sampler.start()
        deadline = t0 + timeout
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    try:
                        os.killpg(proc.pid, 9)
                    except ProcessLookupError:
                        pass
                time.sleep(0.02)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): take the whole tree down with us.
            try:
                os.killpg(proc.pid, 15)
            except ProcessLookupError:
                pass
            raise
        finally:
            sampler.stop()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        command=" ".join(cmd),
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_tree_rss_mb=sampler.peak / 1e6,
        peak_process_rss_mb=max(sampler.peak_single, usage.ru_maxrss * 1024) / 1e6,
        started_at=started,
        ended_at=started + wall,
        log=str(log),
    )


def stats(values) -> dict | None:
    """Median, min, max (and n) of the numbers given, ignoring None."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def loadavg() -> float:
    return os.getloadavg()[0]
