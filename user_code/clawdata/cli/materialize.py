"""`clawdata dagster materialize`: run assets, show progress, exit with the run's result."""

import difflib

from clawdata.cli.errors import USAGE_ERROR, ClawdataError
from clawdata.cli.progress import RunEvent, console, show
from clawdata.cli.target import Target

ALL_JOB = "materialize_all"  # defs/automation/schedules.py
ASSET_JOB = "__ASSET_JOB"  # Dagster's implicit job over every asset


def resolve_assets(target: Target, names: tuple[str, ...]) -> list[list[str]]:
    """Asset keys as the UI shows them (`slv_customers`, or `a/b` for a prefixed key)."""
    known = {"/".join(p): p for p in target.asset_paths()}
    unknown = [n for n in names if n not in known]
    if unknown:
        lines = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            lines.append(f"unknown asset '{name}'" + (f"; did you mean: {', '.join(close)}?" if close else ""))
        lines.append("known assets: " + ", ".join(sorted(known)))
        raise ClawdataError("\n".join(lines), exit_code=USAGE_ERROR)
    return [known[n] for n in dict.fromkeys(names)]


def run_and_report(target: Target, job_name: str, asset_paths, tags: dict[str, str]) -> bool:
    """Run, print progress and a summary; True if the run succeeded."""
    items = target.run(job_name, asset_paths, tags)
    run_id = next(items)
    console.print(f"run [bold]{run_id}[/] on {target.graphql.where}")
    status, failures, materialized = None, [], 0
    for item in items:
        if isinstance(item, RunEvent):
            show(item)
            materialized += item.kind == "materialized"
            if item.kind in ("step_failure", "run_failure") or (item.kind == "check" and not item.ok):
                failures.append(item)
            if item.kind == "retry":  # the result is the retry's; what failed before is shown above
                failures = []
        else:
            status = item
    ok = status == "SUCCESS"
    colour = "green" if ok else "red"
    console.print(f"[{colour}]{status}[/]: {materialized} asset(s) materialized, {len(failures)} failure(s)")
    return ok


def materialize(target: Target, all_assets: bool, names: tuple[str, ...]) -> None:
    if all_assets == bool(names):
        raise ClawdataError("name the assets to materialize, or pass --all (not both)", exit_code=USAGE_ERROR)
    if all_assets:
        ok = run_and_report(target, ALL_JOB, None, {"clawdata/launched_by": "cli"})
    else:
        ok = run_and_report(target, ASSET_JOB, resolve_assets(target, names), {"clawdata/launched_by": "cli"})
    if not ok:
        raise ClawdataError("materialization failed (see the failures above)")
