"""One view of a run's progress, whichever backend runs it."""

import sys
from dataclasses import dataclass

from rich.console import Console

# Bound to the terminal's streams as they are at start: while a local run executes, sys.stdout is
# redirected away (dbt's log stays in the run's captured logs, not on the terminal).
# Not a terminal (a pipe, a test, CI): wide enough that tables are not cut.
_width = None if sys.stdout.isatty() else 160
console = Console(file=sys.stdout, highlight=False, width=_width)
errors = Console(file=sys.stderr, highlight=False, width=_width)


@dataclass(frozen=True)
class RunEvent:
    kind: str  # step_start | step_success | step_failure | materialized | check | run_failure | retry
    name: str  # step key, asset key, check name or (retry) the new run's id
    detail: str = ""
    ok: bool = True


def show(event: RunEvent) -> None:
    if event.kind == "step_start":
        console.print(f"  [dim]…[/] {event.name}")
    elif event.kind == "materialized":
        console.print(f"  [green]✓[/] {event.name}{f'  [dim]{event.detail}[/]' if event.detail else ''}")
    elif event.kind == "check" and not event.ok:
        console.print(f"  [red]✗ check[/] {event.name}")
    elif event.kind in ("step_failure", "run_failure"):
        console.print(f"  [red]✗ {event.name}[/]: {event.detail}")
    elif event.kind == "retry":
        console.print(f"[yellow]{event.detail}:[/] run [bold]{event.name}[/]")


def failure_text(description: str | None, causes: list[str]) -> str:
    """A step failure in one message: a dagster.Failure's description (our bad-input and audit
    errors), else the innermost cause (the user-code error inside Dagster's wrappers)."""
    if description:
        return description.strip()
    text = next((c for c in reversed(causes) if c and c.strip()), "step failed").strip()
    return text.split("\n\nStack Trace:")[0]


def rows_detail(rows: int | None, reused: bool = False) -> str:
    text = f"{rows:,} rows" if rows is not None else ""
    return f"{text}, inputs unchanged: reused" if reused else text
