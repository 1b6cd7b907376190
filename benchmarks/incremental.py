"""INCREMENTAL: a second `clawdata dagster materialize --all` on the same warehouse and instance, inputs
unchanged, right after each full run of THROUGHPUT; what it reused (the materializations' `reused`
metadata, code and data versions) and its time against the full run."""

from benchmarks.core import Context, layer, stats
from benchmarks.fmt import f, med, size_label, table


def second_run(ctx: Context, sample, home, log) -> dict:
    return ctx.materialize(sample, home, log, fresh=False)


def _reuse(run: dict) -> dict:
    mats = run.get("materializations") or []
    return {"materialized": len(mats), "reused": [m["asset"] for m in mats if m.get("reused") is True],
            "rebuilt": [m["asset"] for m in mats if m.get("reused") is not True],
            "reuse_flag_present": any(m.get("reused") is not None for m in mats),
            "with_code_version": sum(1 for m in mats if m.get("code_version")),
            "with_data_version": sum(1 for m in mats if m.get("data_version")),
            "data_version_from_code": sum(1 for m in mats if m.get("data_version_user_provided")),
            "check_evaluations": run.get("check_evaluations"), "steps_skipped": run.get("steps_skipped"),
            "dbt_ran": any(layer(m["asset"]) == "gold" and m.get("reused") is not True for m in mats)}  # dbt built a model


def summarize(reps: list[dict]) -> dict:
    """The second runs of a size's repetitions (those whose full run succeeded)."""
    ok = [r for r in reps if r.get("ok") and (r.get("second") or {}).get("returncode") == 0]
    second = [r["second"] for r in ok]
    return {"second_wall_s": stats(s["wall_s"] for s in second), "second_cpu_s": stats(s["cpu_s"] for s in second),
            "second_over_full": stats(r["second"]["wall_s"] / r["platform"]["wall_s"] for r in ok),
            "second_reuse": _reuse(second[-1]) if second else None,
            "second_phases": {k: stats((s.get("phases") or {}).get(k) for s in second)
                              for k in ("startup_s", "run_creation_s", "execution_s", "shutdown_s")}}


def _reuse_text(r: dict | None) -> str:
    if not r:
        return "-"
    if not r["reuse_flag_present"]:
        return f"nothing skipped: {r['materialized']} assets rebuilt (no `reused` metadata)"
    parts = [f"{len(r['reused'])}/{r['materialized']} assets reused"] + (["rebuilt: " + ", ".join(r["rebuilt"])] if r["rebuilt"] else [])
    return "; ".join(parts + ["dbt built models" if r["dbt_ran"] else "no dbt model built", f"{r['check_evaluations']} check results"])


def render(sizes: list[dict]) -> str:
    out = ["INCREMENTAL  a second `materialize --all` on the same warehouse and instance, inputs unchanged",
           table([[size_label(s["customers"]), f(s["platform_wall_s"]), f(s["second_wall_s"]), f(s["second_over_full"], 2, "x"),
                   _reuse_text(s["second_reuse"])] for s in sizes], ["customers", "full s", "second s", "second/full", "what is skipped"])]
    r, sp = sizes[-1]["second_reuse"], sizes[-1]["second_phases"]
    if r and r["reuse_flag_present"]:
        out.append(f"  how: every materialization carries a code version ({r['with_code_version']}/{r['materialized']}) and a data"
                   f" version ({r['with_data_version']}/{r['materialized']}), {r['data_version_from_code']} of them set by the asset itself, the"
                   " others derived by Dagster from code version and inputs. A step whose recorded inputs are unchanged keeps its table"
                   " (audits re-run on it); gold builds only what changed. Unskipped: start-up, run creation, per-step work.")
        out.append(f"  second run at {size_label(sizes[-1]['customers'])}: start-up {med(sp['startup_s'])} s, run creation "
                   f"{med(sp['run_creation_s'])} s, execution {med(sp['execution_s'])} s, shutdown {med(sp['shutdown_s'])} s")
    return "\n".join(out)
