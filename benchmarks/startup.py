"""START-UP: what every `clawdata` command pays before any data moves, each part measured alone (3
times, medians): the interpreter, DuckDB's and Dagster's imports, loading the definitions (with and
without a bytecode cache), dbt's start-up and its parse (full and partial), and the CLI's
`--version`. Run after THROUGHPUT's warm-up, on its project copy and warehouse."""

import shutil
import sys

from benchmarks.core import Context, run, stats
from benchmarks.fmt import med


def run_all(ctx: Context, sample, reps: int = 3) -> dict:
    py, dbt = sys.executable, str(ctx.bin / "dbt")
    target = ctx.runs / "startup-dbt-target"
    env, empty_cache = ctx.env(sample), ctx.runs / "empty-pycache"
    no_cache = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(empty_cache)}
    dbt_args = ["--project-dir", str(ctx.project), "--profiles-dir", str(ctx.profiles), "--target", "clawdata",
                "--target-path", str(target), "--log-path", str(target)]
    probes = {
        "python_start": ([py, "-c", "pass"], env),
        "import_duckdb": ([py, "-c", "import duckdb"], env),
        "import_dagster": ([py, "-c", "import dagster"], env),
        "load_definitions": ([py, "-c", "import clawdata.definitions"], env),
        "load_definitions_no_bytecode_cache": ([py, "-c", "import clawdata.definitions"], no_cache),
        "clawdata_version": ([ctx.clawdata, "--version"], env),
        "dbt_version": ([dbt, "--version"], env),
        "dbt_parse_full": ([dbt, "parse", "--no-partial-parse", *dbt_args], env),
        "dbt_parse_partial": ([dbt, "parse", *dbt_args], env),
    }
    out = {}
    for name, (cmd, probe_env) in probes.items():
        shutil.rmtree(empty_cache, ignore_errors=True)
        runs = [m for i in range(reps) if (m := run(cmd, probe_env, ctx.runs / "logs" / "startup" / f"{name}-{i}.log",
                                                     cwd=ctx.project))["returncode"] == 0]
        out[name] = {"wall_s": stats(m["wall_s"] for m in runs), "cpu_s": stats(m["cpu_s"] for m in runs)}
    shutil.rmtree(target, ignore_errors=True)
    return out


def render(costs: dict) -> str:
    return ("START-UP COSTS MEASURED ALONE  (median wall s / cpu s)\n  "
            + "; ".join(f"{k} {med(v['wall_s'], 2)} / {med(v['cpu_s'], 2)}" for k, v in costs.items()))
