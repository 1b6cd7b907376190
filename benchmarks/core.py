"""The measured runs: the platform (`clawdata` as a subprocess, embedded default) and the floor (the
same SQL in one DuckDB process: no Dagster, no dbt), and each platform run read back from its event log.

Measuring a command: wall time; CPU time (user + system of the process tree, from wait4's rusage,
which counts every waited-for descendant); peak memory, the RSS summed over the process tree sampled
from /proc every 0.1 s (an upper bound: shared pages count once per process), with the largest single
process (ru_maxrss) beside it.

The floor runs in a process of its own, `python -m benchmarks.core floor|delivery-floor ...`, with
clawdata's own Dagster-free functions, so its SQL is the platform's (the process checks that neither
Dagster nor dbt was imported):
- floor: what `materialize --all` does, in its order. Per declared file source, bronze (each file read
  with bronze's SELECT, `sources.loads._read_files`, then the audits and the write-audit-publish swap,
  `warehouse.publish.publish`), then silver (the source's silver SELECT, audits, swap), then every dbt
  model's compiled SQL (`dbt compile` against an empty warehouse: the full SQL of incremental models)
  as CREATE OR REPLACE TABLE, dependencies first, and every dbt data test's compiled SQL wrapped as
  dbt wraps it. Left out: the ledger and change logs, Dagster's metadata, dbt's bookkeeping, the
  replica publish.
- delivery-floor: one delivery on a copy of the warehouse taken just before it, one transaction: each
  file read with bronze's SELECT and appended to bronze; silver upserted for the delivered keys (the
  source's silver SELECT over those keys' bronze rows); gold from the models' compiled SQL with their
  silver sources filtered to the affected keys, deleted and re-inserted for those keys (BY_KEY), the
  other models in full. No audits, no dbt tests, no change logs.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
GOLD = ("main.dim_customers", "main.fct_daily_revenue", "main.fct_customer_category_revenue", "main.fct_category_revenue")  # the sample's dbt project
SILVER = ("silver.slv_customers", "silver.slv_orders", "silver.slv_products")
# Gold models the delivery floor recomputes for the affected keys only: model -> (column, table of keys).
BY_KEY = {"dim_customers": ("customer_id", "affected_customers"), "fct_daily_revenue": ("order_date", "affected_dates"),
          "fct_customer_category_revenue": ("customer_id", "affected_customers")}


# ---- measuring one command -------------------------------------------------------------------------

def _tree_rss(root: int) -> tuple[int, int]:
    """(RSS summed over root and its descendants, largest single RSS), in bytes."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last ')'.
            children.setdefault(int(stat[stat.rfind(b")") + 2:].split()[1]), []).append(int(name))
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
        total, largest = total + rss, max(largest, rss)
    return total, largest


def run(cmd: list[str], env: dict, log: Path, cwd: Path | None = None, timeout: float = 7200) -> dict:
    """Run `cmd` to its end, output to `log`, and measure it. Never raises on a non-zero exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    peak, halt = [0, 0], threading.Event()
    with open(log, "wb") as out:
        started, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def sample():
            while not halt.is_set():
                total, largest = _tree_rss(proc.pid)
                peak[:] = max(peak[0], total), max(peak[1], largest)
                halt.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            while not (waited := os.wait4(proc.pid, os.WNOHANG))[0]:
                if time.perf_counter() - t0 > timeout:
                    _kill(proc.pid, 9)
                time.sleep(0.02)
        except BaseException:  # Ctrl-C, SIGTERM: take the whole tree down with us
            _kill(proc.pid, 15)
            raise
        finally:
            halt.set()
            sampler.join()
        wall = time.perf_counter() - t0
    _, status, usage = waited
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"command": " ".join(map(str, cmd)), "returncode": proc.returncode, "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_tree_rss_mb": peak[0] / 1e6,
            "peak_process_rss_mb": max(peak[1], usage.ru_maxrss * 1024) / 1e6,
            "started_at": started, "ended_at": started + wall, "log": str(log)}


def _kill(group: int, signal: int) -> None:
    try:
        os.killpg(group, signal)
    except ProcessLookupError:
        pass


def stats(values) -> dict | None:
    """Median, min, max and n of the numbers given, None ignored."""
    values = [v for v in values if v is not None]
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)} if values else None


def loadavg() -> float:
    return os.getloadavg()[0]


def machine() -> dict:
    """The machine and the versions; no Docker call (the STACK section records the engine)."""
    def first(path, prefix, default):
        try:
            with open(path) as f:
                return next((l.split(":", 1)[1].strip() for l in f if l.startswith(prefix)), default)
        except OSError:
            return default

    versions = {}
    for dist in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "duckdb"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    info = {"nproc": os.cpu_count(), "memory_gib": round(int(first("/proc/meminfo", "MemTotal", "0 kB").split()[0]) / 2**20, 1),
            "cpu_model": first("/proc/cpuinfo", "model name", "unknown"), "kernel": platform.release(),
            "python": platform.python_version(), "versions": versions,
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
    info["summary"] = (f"{info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB RAM, Linux {info['kernel']}, "
                       f"Python {info['python']}, load {info['load_avg_at_start'][0]:.1f} at start")
    return info


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---- the platform ------------------------------------------------------------------------------------

def sync_tree(source: Path, copy: Path, skip: tuple[str, ...]) -> None:
    """Make `copy` hold `source`'s files (top-level names in `skip` left alone): changed files copied,
    removed ones deleted."""
    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in skip}

    wanted = files(source)
    for rel in (files(copy) if copy.is_dir() else set()) - wanted:
        (copy / rel).unlink()
    for rel in wanted:
        if not (copy / rel).is_file() or (copy / rel).read_bytes() != (source / rel).read_bytes():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, copy / rel)


class Context:
    """One scratch area under benchmarks/.work/NAME (instances, warehouses, inbox, logs) and the dbt
    project's copy that every section shares (benchmarks/.work/project/dbt: per-run dbt state stays out
    of the checkout, and an edit of dbt/ during a benchmark cannot re-prepare the manifest under it).
    One warehouse path per area: dbt's partial parsing is valid for the warehouse path it was made with."""

    def __init__(self, repo: Path, work: Path, name: str, log=print):
        self.repo, self.work, self.log = repo, work, log
        self.bin = Path(sys.executable).parent
        self.clawdata = str(self.bin / "clawdata")
        self.project = work / "project" / "dbt"
        self.runs = work / name
        self.inbox = self.runs / "inbox"
        self.warehouse = self.runs / "platform" / "warehouse.duckdb"

    def prepare(self) -> "Context":
        """An empty scratch area; the project's copy brought in step with the checkout's dbt/ (its
        target/, with dbt's parse state, kept)."""
        shutil.rmtree(self.runs, ignore_errors=True)
        self.inbox.mkdir(parents=True)
        self.warehouse.parent.mkdir(parents=True)
        sync_tree(self.repo / "dbt", self.project, skip=("target", "logs", "dbt_packages", ".user.yml"))
        return self

    @property
    def profiles(self) -> Path:  # generated by clawdata at its first load of the project copy
        return self.project / "target" / "clawdata_profiles"

    def env(self, sample, warehouse: Path | None = None, home: Path | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDATA_", "DAGSTER_", "DBT_", "PYTHONPYCACHE"))}
        # A warm bytecode cache, as wherever PYTHONDONTWRITEBYTECODE is unset and as in the images; under
        # .work so the venv is not touched. Its cost when cold: START-UP.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(CLAWDATA_DBT_PROJECT_DIR=str(self.project), CLAWDATA_SAMPLE_DIR=str(sample),
                   CLAWDATA_INBOX_DIR=str(self.inbox), CLAWDATA_WAREHOUSE_PATH=str(warehouse or self.warehouse),
                   PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1",
                   PYTHONPYCACHEPREFIX=str(self.work / "pycache"), NO_COLOR="1")
        if home is not None:
            env["DAGSTER_HOME"] = str(home)
        return env

    def clawdata_run(self, args: list[str], sample, home: Path, log: Path, warehouse: Path | None = None) -> dict:
        """`clawdata ARGS` measured; with the id of the run it started, if any."""
        load = loadavg()
        m = run([self.clawdata, *args], self.env(sample, warehouse, home), log, cwd=self.runs)
        found = re.search(r"^run ([0-9a-f-]{36})", Path(m["log"]).read_text(errors="replace"), re.M)
        if m["returncode"] != 0:
            self.log(f"  ! clawdata {' '.join(args)} exited {m['returncode']}; see {m['log']}")
        return {**m, "run_id": found.group(1) if found else None, "load_at_start": load}

    def materialize(self, sample, home: Path, log: Path, fresh: bool, *extra: str) -> dict:
        if fresh:
            fresh_file(self.warehouse)
        return self.clawdata_run(["dagster", "materialize", "--all", *extra], sample, home, log)

    def dbt_build(self, sample, warehouse: Path, target: Path, log: Path, *extra: str) -> dict:
        """A bare `dbt build` (dbt's own command, no clawdata) of the project copy on `warehouse`, with
        clawdata's generated profile and dbt's state in `target`, measured."""
        cmd = [str(self.bin / "dbt"), "build", *extra, "--project-dir", str(self.project), "--profiles-dir", str(self.profiles),
               "--target", "clawdata", "--target-path", str(target), "--log-path", str(target)]
        return run(cmd, self.env(sample, warehouse), log, cwd=self.project)

    def compile_manifest(self, sample) -> Path:
        """`dbt compile` of the project copy against an empty warehouse of the same file name (the same
        catalog in the relation names), into a target folder of its own: the models' full SQL."""
        target, empty = self.runs / "compiled", self.runs / "compile" / self.warehouse.name
        empty.parent.mkdir(parents=True, exist_ok=True)
        cmd = [str(self.bin / "dbt"), "compile", "--project-dir", str(self.project), "--profiles-dir", str(self.profiles),
               "--target", "clawdata", "--target-path", str(target), "--log-path", str(target)]
        m = run(cmd, self.env(sample, empty), self.runs / "logs" / "dbt-compile.log", cwd=self.project)
        shutil.rmtree(empty.parent, ignore_errors=True)
        if m["returncode"] != 0 or not (target / "manifest.json").exists():
            raise RuntimeError(f"dbt compile failed (exit {m['returncode']}); see {m['log']}")
        return target / "manifest.json"

    def floor(self, kind: str, sample, manifest: Path, warehouse: Path, log: Path, files: dict | None = None) -> dict:
        """The floor process (`floor` on a fresh file, `delivery-floor` on a copy), measured; its own
        figures (per table, SQL time, checks) under `detail`."""
        if kind == "floor":
            fresh_file(warehouse)
        result = log.with_suffix(".json")
        result.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "benchmarks.core", kind, "--manifest", str(manifest), "--warehouse", str(warehouse),
               "--out", str(result), *(a for name, path in (files or {}).items() for a in ("--file", f"{name}={path}"))]
        m = run(cmd, self.env(sample, warehouse), log, cwd=self.repo)
        if m["returncode"] != 0 or not result.exists():
            self.log(f"  ! {kind} exited {m['returncode']}; see {m['log']}")
            return m
        return {**m, "detail": json.loads(result.read_text())}


def fresh_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def copy_warehouse(source: Path, target: Path) -> Path:
    shutil.rmtree(target.parent, ignore_errors=True)
    target.parent.mkdir(parents=True)
    for suffix in ("", ".wal"):
        if source.with_name(source.name + suffix).exists():
            shutil.copyfile(source.with_name(source.name + suffix), target.with_name(target.name + suffix))
    return target


def fingerprint(warehouse_or_conn, tables=GOLD) -> dict:
    """Rows and the sum of row hashes of each table: two warehouses' contents compared cheaply."""
    import duckdb

    def read(conn):
        return {t: [str(v) for v in conn.execute(f"SELECT count(*), sum(hash(x)) FROM {t} x").fetchone()] for t in tables}

    if not isinstance(warehouse_or_conn, Path):
        return read(warehouse_or_conn)
    try:
        with duckdb.connect(str(warehouse_or_conn), read_only=True) as conn:
            return read(conn)
    except duckdb.Error as e:
        return {"error": str(e)}


# ---- a run read back from its event log ----------------------------------------------------------------

def layer(step: str) -> str:
    return ("bronze" if step.startswith("raw_") else "silver" if step.startswith("slv_")
            else "replica" if step == "warehouse_replica" else "gold")


def read_back(home: Path, runs: list[dict]) -> None:
    """Add to each run dict (with a run_id) its phases, steps, materializations and the gold step's
    split around dbt's results (its first and last node result event)."""
    from dagster import DagsterInstance  # only here: the floor never imports Dagster

    with DagsterInstance.from_config(str(home)) as instance:
        for r in runs:
            record = instance.get_run_record_by_id(r["run_id"]) if r.get("run_id") else None
            if record is None:
                continue
            logs = instance.all_logs(r["run_id"])
            marks, steps, mats, results, checks, skipped = {}, {}, [], [], 0, 0
            for entry in logs:
                event = entry.dagster_event
                kind = event.event_type_value if event else None
                if kind in ("PIPELINE_START", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
                    marks[kind] = entry.timestamp
                elif kind == "STEP_START":
                    steps[event.step_key] = {"start": entry.timestamp}
                elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in steps:
                    steps[event.step_key]["end"] = entry.timestamp
                elif kind == "STEP_SKIPPED":
                    skipped += 1
                if kind in ("STEP_OUTPUT", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION") and layer(event.step_key or "") == "gold":
                    results.append(entry.timestamp)
                if kind == "ASSET_CHECK_EVALUATION":
                    checks += 1
                elif kind == "ASSET_MATERIALIZATION":
                    m = event.event_specific_data.materialization
                    reused, tags = m.metadata.get("reused"), m.tags or {}
                    mats.append({"asset": event.asset_key.to_user_string(), "reused": getattr(reused, "value", reused),
                                 "code_version": tags.get("dagster/code_version"), "data_version": tags.get("dagster/data_version"),
                                 "data_version_user_provided": tags.get("dagster/data_version_is_user_provided") == "true"})
            created = record.create_timestamp.timestamp()
            start, end = marks.get("PIPELINE_START"), marks.get("PIPELINE_SUCCESS") or marks.get("PIPELINE_FAILURE")
            step_s = {k: v["end"] - v["start"] for k, v in steps.items() if "end" in v}
            r.update(steps=step_s, step_times=steps, events=len(logs), materializations=mats, check_evaluations=checks,
                     steps_skipped=skipped, phases={
                         "startup_s": created - r["started_at"],  # python, imports, definitions, instance (a tick: + the sensor)
                         "run_creation_s": start - created if start else None,  # run record, planned events
                         "execution_s": end - start if start and end else None,
                         "steps_s": sum(step_s.values()),
                         "between_steps_s": end - start - sum(step_s.values()) if start and end else None,
                         "shutdown_s": r["ended_at"] - end if end else None})
            gold = [v for k, v in steps.items() if layer(k) == "gold" and "end" in v]
            if gold and results:
                r["dbt"] = {"before_first_result_s": min(results) - gold[0]["start"], "results_s": max(results) - min(results),
                            "after_last_result_s": gold[0]["end"] - max(results), "result_events": len(results)}
            layers = {}
            for k, v in step_s.items():
                layers[layer(k)] = layers.get(layer(k), 0.0) + v
            starts = [v["start"] for k, v in steps.items() if layer(k) == "bronze"]
            ends = [v["end"] for k, v in steps.items() if layer(k) == "gold" and "end" in v]
            r["bronze_to_gold_s"] = max(ends) - min(starts) if starts and ends else None
            r["layers_s"] = layers


# ---- the floor (runs in its own process) -------------------------------------------------------------

def dbt_order(manifest: dict) -> list[dict]:
    """Enabled models and data tests, dependencies first (ties by id), as `dbt build` orders them."""
    nodes = {uid: n for uid, n in manifest["nodes"].items()
             if n["resource_type"] in ("model", "test") and n.get("config", {}).get("enabled", True)}
    deps = {uid: {d for d in n["depends_on"]["nodes"] if d in nodes} for uid, n in nodes.items()}
    order, done = [], set()
    while len(order) < len(nodes):
        ready = sorted(uid for uid in nodes if uid not in done and deps[uid] <= done)
        if not ready:
            raise RuntimeError("dependency cycle in the dbt manifest")
        order += [nodes[uid] for uid in ready]
        done.update(ready)
    return order


def _file_sources():
    from clawdata.sources.declarations import specs
    from clawdata.sources.spec import FileSourceSpec

    return [s for s in specs() if type(s) is FileSourceSpec]  # a database source needs its server


def floor(manifest_path: Path, warehouse: Path) -> dict:
    t_start = time.perf_counter()
    import duckdb

    from clawdata.sources.audits import raw_audits, silver_audits
    from clawdata.sources.loads import _read_files
    from clawdata.warehouse.files import check_header
    from clawdata.warehouse.publish import publish

    sources, nodes = _file_sources(), dbt_order(json.loads(manifest_path.read_text()))
    out = {"bronze": {}, "silver": {}, "gold_models": {}, "gold_tests": {}, "failing_tests": [],
           "imports_s": time.perf_counter() - t_start}
    t0 = time.perf_counter()
    with duckdb.connect(str(warehouse)) as conn:
        for s in sources:
            t, headers = time.perf_counter(), [check_header(p, s.types, s.format) for p in s.input_files()]
            publish(conn, s.bronze, lambda staging, s=s, h=headers: _read_files(conn, str(staging), h, s), raw_audits(s))
            out["bronze"][s.raw_table] = time.perf_counter() - t
        for s in sources:
            t = time.perf_counter()
            publish(conn, s.silver, lambda staging, s=s: conn.execute(f"CREATE TABLE {staging} AS {s.silver_select()}"),
                    silver_audits(s))
            out["silver"][s.silver_table] = time.perf_counter() - t
        for node in nodes:
            t = time.perf_counter()
            if node["resource_type"] == "model":
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{node["schema"]}"')
                conn.execute(f"CREATE OR REPLACE TABLE {node['relation_name']} AS (\n{node['compiled_code']}\n)")
                out["gold_models"][node["name"]] = time.perf_counter() - t
                continue
            failures = conn.execute("select count(*) as failures, count(*) != 0 as should_warn, count(*) != 0 as should_error "
                                    f"from (\n{node['compiled_code']}\n) dbt_internal_test").fetchone()[0]
            if failures:
                out["failing_tests"].append(f"{node['name']}: {failures}")
            out["gold_tests"][node["name"]] = time.perf_counter() - t
    out["sql_s"] = time.perf_counter() - t0
    out["phases_s"] = {k: sum(out[k].values()) for k in ("bronze", "silver", "gold_models", "gold_tests")}
    out["audits"] = sum(len(raw_audits(s)) + len(silver_audits(s)) for s in sources)
    return out


def delivery_floor(manifest_path: Path, warehouse: Path, files: dict[str, Path]) -> dict:
    import resource

    import duckdb

    from clawdata.sources.loads import _read_files
    from clawdata.warehouse.files import check_header

    by_name = {s.name: s for s in _file_sources()}
    manifest = json.loads(manifest_path.read_text())
    models = [n for n in dbt_order(manifest) if n["resource_type"] == "model"]
    source_relation = {uid: (s["name"], s["relation_name"]) for uid, s in manifest["sources"].items()}
    timings, modes = {}, {}
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with duckdb.connect(str(warehouse)) as conn:
        columns = {}
        for table, column in conn.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'silver'").fetchall():
            columns.setdefault(table, set()).add(column)
        conn.execute("BEGIN TRANSACTION")
        t = time.perf_counter()
        for name, path in files.items():
            s = by_name[name]
            conn.execute(f'CREATE TEMP TABLE "delta_{name}" AS SELECT * FROM {s.bronze} LIMIT 0')
            _read_files(conn, f'"delta_{name}"', [check_header(path, s.types, s.format)], s, create=False)
            conn.execute(f'INSERT INTO {s.bronze} BY NAME SELECT * FROM "delta_{name}"')
            conn.execute(f'CREATE TEMP TABLE "keys_{name}" AS SELECT DISTINCT {s.keys_sql()} FROM "delta_{name}"')
        timings["bronze_s"], t = time.perf_counter() - t, time.perf_counter()
        # The delivered orders as they were before the upsert: an order may move to another customer or date.
        orders = "SELECT customer_id, order_date FROM silver.slv_orders" + (" SEMI JOIN keys_orders USING (order_id)" if "orders" in files else " LIMIT 0")
        conn.execute(f"CREATE TEMP TABLE old_orders AS {orders}")
        for name in files:
            s, keys = by_name[name], f'"keys_{name}"'
            joined = " AND ".join(f't."{k}" = k."{k}"' for k in s.key)
            conn.execute(f"DELETE FROM {s.silver} AS t USING {keys} AS k WHERE {joined}")
            conn.execute(f"INSERT INTO {s.silver} BY NAME "
                         + s.silver_select(f"(SELECT * FROM {s.bronze} SEMI JOIN {keys} USING ({s.keys_sql()}))"))
        timings["silver_s"], t = time.perf_counter() - t, time.perf_counter()
        conn.execute(f"CREATE TEMP TABLE affected_customers AS SELECT customer_id AS k FROM old_orders UNION SELECT customer_id FROM ({orders})"
                     + (" UNION SELECT customer_id FROM keys_customers" if "customers" in files else ""))
        conn.execute(f"CREATE TEMP TABLE affected_dates AS SELECT order_date AS k FROM old_orders UNION SELECT order_date FROM ({orders})")
        for node in models:
            tm, sql, key = time.perf_counter(), node["compiled_code"], BY_KEY.get(node["name"])
            if key:
                column, keys = key
                for uid in node["depends_on"]["nodes"]:
                    table, relation = source_relation.get(uid, (None, None))
                    if relation and column in columns.get(table, ()):
                        sql = sql.replace(relation, f'(SELECT * FROM {relation} WHERE "{column}" IN (SELECT k FROM {keys}))')
                conn.execute(f'DELETE FROM {node["relation_name"]} WHERE "{column}" IN (SELECT k FROM {keys})')
                conn.execute(f'INSERT INTO {node["relation_name"]} BY NAME SELECT * FROM (\n{sql}\n)')
            else:
                conn.execute(f"CREATE OR REPLACE TABLE {node['relation_name']} AS (\n{sql}\n)")
            modes[node["name"]] = f"for the affected {key[0]}s" if key else "in full"
            timings[f"gold.{node['name']}_s"] = time.perf_counter() - tm
        timings["gold_s"], t = time.perf_counter() - t, time.perf_counter()
        conn.execute("COMMIT")
        timings["commit_s"] = time.perf_counter() - t
        sql_s, cpu1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        affected = {k: conn.execute(f"SELECT count(*) FROM {k}").fetchone()[0] for k in ("affected_customers", "affected_dates")}
        gold = fingerprint(conn)  # after the timing: for the comparison with the platform only
    return {"sql_s": sql_s, "sql_cpu_s": cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, **timings,
            "models": modes, "affected": affected, "fingerprint": gold}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.core", description="the floor, in one DuckDB process")
    p.add_argument("kind", choices=["floor", "delivery-floor"])
    p.add_argument("--manifest", type=Path, required=True, help="manifest.json of `dbt compile`")
    p.add_argument("--warehouse", type=Path, required=True, help="its stem must match the compiled SQL's catalog")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--file", action="append", default=[], metavar="SOURCE=PATH", help="delivery-floor: a delivered file")
    args = p.parse_args(argv)
    if args.kind == "floor":
        out = floor(args.manifest, args.warehouse)
    else:
        out = delivery_floor(args.manifest, args.warehouse, {n: Path(f) for n, f in (x.split("=", 1) for x in args.file)})
    out.update(dagster_imported="dagster" in sys.modules, dbt_imported=any(m == "dbt" or m.startswith("dbt.") for m in sys.modules))
    args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
