"""`clawdata dagster materialize`: run assets, show progress, exit with the run's result."""

import difflib
import textwrap
import time

from clawdata.cli.errors import INTERRUPTED, USAGE_ERROR, ClawdataError
from clawdata.cli.progress import Summary, console, escape, report
from clawdata.cli.target import Target
from clawdata.listing import few
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
    of the checks to run (None: those of the assets). A failed run that left the read path behind is
    followed by its publish, locally (publish_what_built)."""
    status, summary, run_id = _run_and_report(target, job_name, asset_paths, tags, checks)
    if status == "FAILURE":
        publish_what_built(target, summary, run_id, tags)
    return status


def publish_what_built(target: Target, summary: Summary, run_id: str, tags: dict[str, str]) -> None:
    """After a run that failed before publishing, the read path alone, as a deployment's replica_sensor
    runs it (the daemon does there): its own check publishes what did build where it agrees with what
    it reads (a model whose new code failed keeps its last table), and says why not otherwise. Without
    it a laptop's readers stayed on the last publish, unsaid, after any failure."""
    if REPLICA_ASSET not in summary.behind or target.where.startswith("http"):
        return
    console.print(f"publishing what did build to the read path (`clawdata sql`), as a deployment's replica_sensor does:")
    _run_and_report(target, ASSET_JOB, [[REPLICA_ASSET]],
                    {**tags, "clawdata/trigger": f"the read path after the failure of run {run_id[:8]}"})


def _run_and_report(target: Target, job_name: str, asset_paths, tags: dict[str, str], checks=None) -> tuple[str, Summary, str]:
    started = time.monotonic()
    items = target.run(job_name, asset_paths, tags, checks)
    run_id = next(items)
    page = target.run_page(run_id)
    console.print(f"run [bold]{run_id}[/] on {escape(target.where)}" + (f" (in the UI: {escape(page)})" if page else ""), soft_wrap=True)
    status, summary = report(items)
    colour = {"SUCCESS": "green", "CANCELED": "yellow"}.get(status, "red")
    console.print(f"[{colour}]{status}[/]: {summary.line(time.monotonic() - started)}")
    if status != "SUCCESS":
        console.print(f"[dim]all events and output: {target.logs_command(run_id)}[/]")
    return status, summary, run_id


def unreached(parents: dict[str, list[str]], failed: list[str], behind: list[str]) -> list[str]:
    """What stayed behind a failure without reading what failed, even through others: Dagster skips
    every step after a failed one (the dbt models are one step), where `dbt build` builds what does
    not depend on the failure (dagster-io/dagster#15761 asks for it)."""
    reach: dict[str, bool] = {}

    def reads_failure(asset: str) -> bool:
        if asset not in parents:  # not in the graph read (a code location reloading): not guessed
            return True
        if asset not in reach:
            reach[asset] = False  # (a graph has no cycles; this ends the walk if one did)
            reach[asset] = asset in failed or any(reads_failure(p) for p in parents[asset])
        return reach[asset]

    return [asset for asset in behind if not reads_failure(asset)]


def _build_what_the_failure_left(target: Target, summary: Summary, run_id: str, tags: dict[str, str]) -> tuple[str, str] | None:
    """A second run of what stayed behind the failure and does not read it, with the checks the
    failure left without a result on the same terms (the dbt tests of a silver table built before the
    gold step was skipped), as `dbt build` builds and runs them; (its id, its status), or None."""
    if not summary.failed_assets:
        return None
    parents = target.asset_parents()
    rest = unreached(parents, summary.failed_assets, summary.behind)
    checks = [(name.split(":", 1)[0].split("/"), name.split(":", 1)[1])
              for name in unreached(parents, summary.failed_assets, summary.unchecked)]
    if not rest and not checks:
        return None
    failed = few(summary.failed_assets, 8)
    console.print(escape(f"building what does not read {failed}, as `dbt build` would:" if rest else
                         f"running the checks that do not read {failed}, as `dbt build` would:"))
    trigger = textwrap.shorten(f"what the failure of run {run_id[:8]} left behind that does not read {failed}",
                               300, placeholder=" ...")  # as the inbox sensor's trigger tag is cut
    # (no assets and some checks: those checks alone)
    status, _, after = _run_and_report(target, ASSET_JOB, [a.split("/") for a in rest], {**tags, "clawdata/trigger": trigger}, checks)
    return after, status


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
        status, summary, run_id = _run_and_report(target, ALL_JOB, None, tags)
    else:
        assets = resolve_assets(target, names)
        status, summary, run_id = _run_and_report(target, ASSET_JOB, assets, tags)
        if status == "SUCCESS" and [REPLICA_ASSET] not in assets and not target.where.startswith("http"):
            # (a deployment's replica_sensor publishes after such a run by itself; nothing does here)
            console.print(f"[dim]the read path (`clawdata sql`) serves the last publish: name {REPLICA_ASSET} with the "
                          f"assets to publish what this run built[/]")
    after = _build_what_the_failure_left(target, summary, run_id, tags) if status == "FAILURE" else None
    if status == "FAILURE":
        publish_what_built(target, summary, run_id, tags)
    if after:  # the command's result is the first run's: it did not build what the user asked for
        raise ClawdataError(f"run {run_id[:8]} failed (see its failures above); run {after[0][:8]}, of what does not "
                            f"read them, ended {after[1]}", exit_code=INTERRUPTED if after[1] == "CANCELED" else 1)
    raise_for([status])


def check_usage(all_assets: bool, names: tuple[str, ...]) -> None:
    if all_assets == bool(names):
        raise ClawdataError("name the assets to materialize, or pass --all (not both)", exit_code=USAGE_ERROR)
