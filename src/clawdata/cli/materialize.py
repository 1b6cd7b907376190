"""`clawdata dagster materialize`: run assets, show progress, exit with the run's result."""

import difflib
import time

from clawdata.cli.errors import INTERRUPTED, USAGE_ERROR, ClawdataError
from clawdata.cli.progress import console, report
from clawdata.cli.target import Target
from clawdata.settings import FULL_REFRESH_TAG, REPLICA_ASSET

ALL_JOB = "materialize_all"  # defs/automation/schedules.py
ASSET_JOB = "__ASSET_JOB"  # Dagster's implicit job over every asset


def resolve_assets(target: Target, names: tuple[str, ...]) -> list[list[str]]:
    """Asset keys as the UI shows them (`slv_customers`, or `a/b` for a prefixed key)."""
    known = {"/".join(p): p for p in target.asset_paths()}
    check_names(names, list(known))
    return [known[n] for n in dict.fromkeys(names)]


def check_names(names: tuple[str, ...], known: list[str]) -> None:
    """A usage error naming each unknown asset, with close matches."""
    unknown = [n for n in names if n not in known]
    if unknown:
        lines = []
        for name in unknown:
            # a dbt model in a schema of its own is `schema/model`: the model's name alone (as `dbt build -s`
            # takes it) finds it first
            ending = [k for k in known if k.rsplit("/", 1)[-1] == name]
            close = list(dict.fromkeys([*ending, *difflib.get_close_matches(name, known, n=3, cutoff=0.5)]))[:3]
            lines.append(f"unknown asset '{name}'" + (f"; did you mean: {', '.join(close)}?" if close else ""))
        lines.append("known assets: " + ", ".join(sorted(known)))
        raise ClawdataError("\n".join(lines), exit_code=USAGE_ERROR)


def run_and_report(target: Target, job_name: str, asset_paths, tags: dict[str, str], checks=None) -> str:
    """Run, print progress and a summary; returns the run's final status. `checks`: (asset path, name)
    of the checks to run (None: those of the assets)."""
    started = time.monotonic()
    items = target.run(job_name, asset_paths, tags, checks)
    run_id = next(items)
    console.print(f"run [bold]{run_id}[/] on {target.where}")
    status, summary = report(items)
    colour = {"SUCCESS": "green", "CANCELED": "yellow"}.get(status, "red")
    console.print(f"[{colour}]{status}[/]: {summary.line(time.monotonic() - started)}")
    if status != "SUCCESS":
        console.print(f"[dim]all events and output: {target.logs_command(run_id)}[/]")
    return status


def raise_for(statuses: list[str]) -> None:
    """The exit status: 130 when a run was canceled (Ctrl-C), 1 when one failed."""
    if "CANCELED" in statuses:
        raise ClawdataError("canceled", exit_code=INTERRUPTED)
    if any(s != "SUCCESS" for s in statuses):
        raise ClawdataError("materialization failed (see the failures above)")


def materialize(target: Target, all_assets: bool, names: tuple[str, ...], full_refresh: bool = False) -> None:
    check_usage(all_assets, names)
    tags = {"clawdata/launched_by": "cli", **({FULL_REFRESH_TAG: "true"} if full_refresh else {})}
    if all_assets:
        status = run_and_report(target, ALL_JOB, None, tags)
    else:
        assets = resolve_assets(target, names)
        status = run_and_report(target, ASSET_JOB, assets, tags)
        if status == "SUCCESS" and [REPLICA_ASSET] not in assets and not target.where.startswith("http"):
            # (a deployment's replica_sensor publishes after such a run by itself; nothing does here)
            console.print(f"[dim]the read path (`clawdata sql`) serves the last publish: name {REPLICA_ASSET} with the "
                          f"assets to publish what this run built[/]")
    raise_for([status])


def check_usage(all_assets: bool, names: tuple[str, ...]) -> None:
    if all_assets == bool(names):
        raise ClawdataError("name the assets to materialize, or pass --all (not both)", exit_code=USAGE_ERROR)
