"""One view of a run's progress, whichever backend runs it."""

import os
import sys
from dataclasses import dataclass, field, replace

from rich.console import Console
from rich.markup import escape

from clawdata.listing import few

# Bound to the terminal's streams as they are at start: while a local run executes, sys.stdout is
# redirected away (dbt's log stays in the run's captured logs, not on the terminal).
# Not a terminal (a pipe, a test, CI): wide enough that tables are not cut, or as wide as COLUMNS says.
_width = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 160


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader went away (`| head`): write nowhere, and let the run go on, unseen, to the end
        it would have had. (Rich's default exits, out of the middle of a run: the run ended FAILURE
        and kept the warehouse slot.)"""
        self.quiet = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), self.file.fileno())


console = _Console(file=sys.stdout, highlight=False, width=_width)
errors = _Console(file=sys.stderr, highlight=False, width=_width)


@dataclass(frozen=True)
class RunEvent:
    kind: str  # step_start | step_failure | materialized | not_built | check | check_planned | planned | warning | run_failure | retry | canceling
    name: str  # step key, asset key, check name or (retry) the new run's id
    detail: str = ""  # (planned: the asset's step)
    ok: bool = True
    reused: bool = False  # materialized: inputs unchanged, the table was kept
    severity: str = "ERROR"  # check: a failed WARN check warns, it does not fail the run
    interrupted: bool = False  # step_failure: Ctrl-C, not the step's own error
    failed: int = 1  # step_failure: the nodes that failed in it (the gold step names its dbt nodes)


@dataclass
class Summary:
    """What a run did, counted from its events: the last line `materialize` prints."""

    rebuilt: int = 0
    reused: int = 0
    not_built: int = 0  # dbt nodes the gold step did not build (something they depend on failed)
    failed: int = 0  # assets and dbt nodes whose step failed on them (not interrupted ones)
    checks_passed: int = 0
    checks_warned: int = 0
    checks_failed: int = 0
    checks_planned: int = 0  # a planned check without a result was skipped (its step failed, or a blocking check)
    failed_assets: list[str] = field(default_factory=list)  # planned in a step that failed, not materialized
    behind: list[str] = field(default_factory=list)  # planned in steps not run: one they depend on failed
    unchecked: list[str] = field(default_factory=list)  # "asset:check" planned, with no result, after a failure

    def add(self, event: RunEvent) -> None:
        if event.kind == "check_planned":
            self.checks_planned += 1
        elif event.kind == "retry":  # the failed run's checks without results are the retry's to run
            self.checks_planned = self.checks_passed + self.checks_warned + self.checks_failed
        elif event.kind == "materialized":
            self.reused += event.reused
            self.rebuilt += not event.reused
        elif event.kind == "not_built":
            self.not_built += 1
        elif event.kind == "step_failure" and not event.interrupted:
            self.failed += event.failed
        elif event.kind == "check":
            if event.ok:
                self.checks_passed += 1
            elif event.severity == "WARN":
                self.checks_warned += 1
            else:
                self.checks_failed += 1

    def line(self, seconds: float) -> str:
        checks = f"checks {self.checks_passed} passed, {self.checks_warned} warned, {self.checks_failed} failed"
        skipped = self.checks_planned - self.checks_passed - self.checks_warned - self.checks_failed
        checks += f", {skipped} skipped" if skipped > 0 else ""
        built = (f"{self.rebuilt} rebuilt, {self.reused} reused" + (f", {self.failed} failed" if self.failed else "")
                 + (f", {self.not_built} not built" if self.not_built else ""))
        return f"{built}; {checks}; {seconds:.1f} s"


def show(event: RunEvent) -> None:
    # What a run says (dbt's and DuckDB's errors, file and model names) is text, not Rich markup: an
    # error quoting `data_tests: [not_null` lost everything up to the next `]`.
    event = replace(event, name=escape(event.name), detail=escape(event.detail))
    if event.kind == "step_start":
        console.print(f"  [dim]…[/] {event.name}")
    elif event.kind == "materialized":
        console.print(f"  [green]✓[/] {event.name}{f'  [dim]{event.detail}[/]' if event.detail else ''}")
    elif event.kind == "not_built":
        console.print(f"  [yellow]–[/] {event.name}  [dim]not built: {event.detail}[/]", soft_wrap=True)
    elif event.kind == "check" and not event.ok:
        warn = event.severity == "WARN"
        console.print(f"  {'[yellow]! warn' if warn else '[red]✗ check'}[/] {event.name}{f': {event.detail}' if event.detail else ''}",
                      soft_wrap=True)  # a long check name on its line, not broken off it
    elif event.kind == "warning":
        console.print(f"  [yellow]! {event.name}[/]: {event.detail}", soft_wrap=True)
    elif event.kind in ("step_failure", "run_failure"):
        detail = event.detail.removeprefix(f"{event.name}: ")  # "slv_x: audit failed" names its step once
        console.print(f"  [red]✗ {event.name}[/]: {detail}", soft_wrap=True)  # a path is not cut
    elif event.kind == "canceling":
        console.print(f"[yellow]{event.detail}[/]")
    elif event.kind == "retry":
        console.print(f"[yellow]{event.detail}:[/] run [bold]{event.name}[/]")


def report(items) -> tuple[str | None, "Summary"]:
    """Show a run's events as they come; (its final status, their summary)."""
    status, summary, said = None, Summary(), False
    planned: dict[str, str] = {}  # asset -> its step
    started, failed, done, built, checks = set(), [], set(), set(), {}
    for item in items:
        if isinstance(item, RunEvent):
            if item.kind == "planned":
                planned[item.name] = item.detail
                continue
            if item.kind == "retry":  # the retry plans its own
                planned, started, failed, done, built, checks = {}, set(), [], set(), set(), {}
            elif item.kind == "step_start":
                started.add(item.name)
            elif item.kind == "step_failure" and not item.interrupted:
                failed.append(item.name)
            elif item.kind in ("materialized", "not_built"):
                done.add(item.name)
                if item.kind == "materialized":
                    built.add(item.name)
            elif item.kind in ("check_planned", "check"):
                checks[item.name] = checks.get(item.name, False) or item.kind == "check"
            # A run that failed in a step (or at its launch) fails with that error again: said once.
            if not (item.kind == "run_failure" and said):
                show(item)
            said = (said or item.kind in ("step_failure", "run_failure")) and item.kind != "retry"
            summary.add(item)
        else:
            status = item
    behind = [asset for asset, step in planned.items() if step not in started and asset not in done]
    if status == "FAILURE" and failed and behind:
        # The steps Dagster did not run because one they depend on failed (the gold step behind a bad
        # delivery) said nothing: their assets are said here, on one line (a dbt project's hundreds),
        # and counted.
        shown = few(behind, 8)
        console.print(f"  [yellow]–[/] not built, upstream failed ({escape(', '.join(dict.fromkeys(failed)))}): [dim]{escape(shown)}[/]",
                      soft_wrap=True)
        summary.not_built += len(behind)
        summary.behind = behind
        summary.failed_assets = [asset for asset, step in planned.items() if step in failed and asset not in built]
        summary.unchecked = [name for name, ran in checks.items() if not ran]
    return status, summary


INTERRUPTED_TEXT = "interrupted (Ctrl-C)"  # a step failure Ctrl-C caused, as the CLI says it (read back by `status`)


def failure_text(description: str | None, causes: list[str]) -> str:
    """A step failure in one message: a dagster.Failure's description (our bad-input and audit
    errors), else the innermost cause (the user-code error inside Dagster's wrappers)."""
    if description:
        return description.strip()
    text = next((c for c in reversed(causes) if c and c.strip()), "step failed").strip()
    return text.split("\n\nStack Trace:")[0]


FAILED_ROWS = "dagster_dbt/failed_row_count"  # a dbt test's failing rows, on its check result


def check_detail(description: str | None, failed_rows: int | None, passed: bool, kept: bool = False) -> str:
    """What a check result says: its description, and a dbt test's failing rows where it did not pass
    (`dbt build` says "Got 6 results, configured to warn if != 0"; a failed test's line said it, a
    warning's did not). `kept`: the result of the last run that ran it, its inputs unchanged since (a
    warning repeated at every run read as if the test had run again)."""
    rows = f"{failed_rows:,} failing row{'s' if failed_rows != 1 else ''}" if failed_rows and not passed else ""
    first = (description or "").strip().splitlines()[:1]  # (a unit test's diff: under the step's failure)
    text = "; ".join(part for part in (*first, rows) if part)
    return f"{text} (kept: not run again, its inputs unchanged)" if kept and not passed else text


def rows_detail(rows: int | None, reused: bool = False, read: int | None = None) -> str:
    """`read`: the rows a database source's load read (those whose cursor moved), beside the table's."""
    text = f"{rows:,} row{'s' if rows != 1 else ''}" if rows is not None else ""
    if read is not None:
        text += f" ({read:,} read from the database)"
    return f"{text}, inputs unchanged: reused" if reused else text
