"""Entry point of the `clawdata` command."""

import os
import signal
import sys
import warnings
from pathlib import Path

import click

import clawdata.gc_tuning  # noqa: F401 (before Dagster and dbt are imported)
from clawdata.cli.errors import INTERRUPTED, ClawdataError
from clawdata.cli.progress import errors, escape

URL_HELP = "The Dagster webserver of a deployment (e.g. http://127.0.0.1:3000). Default: the local instance."


class FriendlyGroup(click.Group):
    """Turns errors into one message and an exit status instead of a traceback (CLAWDATA_DEBUG=1
    shows the traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:  # before or after a run (a run's own Ctrl-C cancels it: exit 130 too)
            errors.print("interrupted")
            sys.exit(INTERRUPTED)
        except ClawdataError as e:
            errors.print(f"[red]error:[/] {escape(str(e))}")  # dbt's parse error quotes YAML: `[not_null` is text
            sys.exit(e.exit_code)
        except Exception as e:
            if os.environ.get("CLAWDATA_DEBUG"):
                raise
            errors.print(f"[red]error:[/] {escape(_innermost(e))}\n(CLAWDATA_DEBUG=1 shows the traceback)")
            sys.exit(1)


def _innermost(error: BaseException) -> str:
    """Dagster wraps user-code errors several times; the innermost cause is the one to act on."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = [l for l in str(error).strip().splitlines() if l.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}" + ("".join(f"\n  {l}" for l in lines[1:8]))


def _versions(ctx, _param, value):
    """Read from the installed packages' metadata: nothing is imported, so it answers at once."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    click.echo(f"clawdata {v('clawdata')}\ndagster {v('dagster')} (dagster-dbt {v('dagster-dbt')})\n"
               f"dbt-core {v('dbt-core')} (dbt-duckdb {v('dbt-duckdb')})\nduckdb {v('duckdb')}")
    ctx.exit()


@click.group(cls=FriendlyGroup)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_versions,
              help="clawdata's, Dagster's, dbt's and DuckDB's versions.")
def cli():
    """clawdata: Dagster orchestrating DuckDB and dbt, from CSV to gold."""


@cli.command()
@click.option("--customers", type=click.IntRange(min=1), default=600, show_default=True, help="Distinct customers.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder for the CSV files.")
def generate(customers: int, seed: int, out: Path):
    """Write a seeded sample (customers, orders, products) of any size."""
    from clawdata.sample_data.generate import generate as write_sample

    for name, rows in write_sample(out, customers=customers, seed=seed).items():
        click.echo(f"{name}: {rows:,} rows")


@cli.command()
@click.argument("query", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--replica", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The replica file. Default: CLAWDATA_REPLICA_PATH, or replica/ beside the warehouse.")
def sql(query, fmt, replica):
    """SQL on the read path (the published replica; never waits for a run): QUERY, or a shell."""
    from clawdata.cli.sql import default_path, sql as run_sql

    run_sql(query, fmt, replica or default_path())


@cli.group("source", cls=FriendlyGroup)
def source_group():
    """Declared sources: a team's files and database tables, as bronze and silver."""


@source_group.command("add")
@click.argument("name")
@click.option("--from", "origin", required=True, metavar="FILE_OR_URL",
              help="A sample file (CSV, Parquet, JSON lines), or a database URL without its password.")
@click.option("--key", required=True, metavar="COL[,COL...]", help="The business key: one row per key in silver.")
@click.option("--updated-at", default=None, metavar="COL", help="The column whose latest value wins (files).")
@click.option("--null", "null_markers", multiple=True, metavar="MARKER", help="Another value to read as NULL (CSV).")
@click.option("--table", default=None, metavar="SCHEMA.TABLE", help="The table (database sources).")
@click.option("--cursor", default=None, metavar="COL", help="Load only rows whose COL moved (database sources).")
@click.option("--force", is_flag=True, help="Replace an existing declaration.")
def source_add(name, origin, key, updated_at, null_markers, table, cursor, force):
    """Declare source NAME from a sample file or a database table (writes defs/sources/NAME/defs.yaml)."""
    from clawdata.cli.sources import add

    add(name, origin, [k.strip() for k in key.split(",") if k.strip()], updated_at, list(null_markers), table, cursor, force)


@source_group.command("list")
@click.option("--url", envvar="CLAWDATA_DAGSTER_URL", default=None, help=URL_HELP)
def source_list(url):
    """The declared sources: where from, key, rows and last load."""
    from clawdata.cli.sources import show

    show(url)


@cli.group("dagster", cls=FriendlyGroup)
@click.option("--url", envvar="CLAWDATA_DAGSTER_URL", default=None, help=URL_HELP)
@click.pass_context
def dagster_group(ctx, url):
    """Drive Dagster: locally (DAGSTER_HOME) or a running deployment (--url / CLAWDATA_DAGSTER_URL)."""
    ctx.obj = url


@dagster_group.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def dev(ctx):
    """Local UI and daemon on the embedded default (extra options go to `dagster dev`)."""
    from clawdata.cli.local import dagster_home, dev_workspace

    if ctx.obj:
        raise ClawdataError("`dev` runs locally; it takes no --url")
    # From DAGSTER_HOME: the repository root's dagster.yaml configures the Compose deployment, and
    # Dagster warns about any dagster.yaml in the working directory that is not DAGSTER_HOME's.
    os.chdir(dagster_home())
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(dev_workspace()), *ctx.args]
    # A shell that starts a command in the background (`&` in a script, no job control) has it ignore
    # Ctrl-C, and an ignored signal stays ignored across exec: `dagster dev` then never stopped its
    # webserver and daemon on `kill -INT`, and they hung waiting for it. Ctrl-C is Ctrl-C again.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(sys.executable, command)


@dagster_group.command()
@click.option("--all", "all_assets", is_flag=True, help="Every asset, dbt models included.")
@click.option("--full-refresh", is_flag=True,
              help="Rebuild from every delivered file: no reuse, no increments (dbt --full-refresh).")
@click.argument("assets", nargs=-1)
@click.pass_obj
def materialize(url, all_assets, full_refresh, assets):
    """Materialize the named ASSETS (keys as shown in the UI), or --all."""
    from clawdata.cli.materialize import check_names, check_usage, materialize as run

    check_usage(all_assets, assets)  # usage errors first: loading the definitions takes seconds
    if assets and not url:
        from clawdata.cli import definitions_snapshot
        from clawdata.cli.local import dagster_home

        known = definitions_snapshot.known(dagster_home())
        if known is not None:
            check_names(assets, definitions_snapshot.asset_names(known))
    from clawdata.cli.target import open_target

    with open_target(url) as target:
        run(target, all_assets, assets, full_refresh)


@dagster_group.command()
@click.argument("run")
@click.argument("step", required=False)
@click.pass_obj
def logs(url, run, step):
    """A run's events and the stdout/stderr its steps printed (RUN: the id or its first characters)."""
    from clawdata.cli.logs import show_logs
    from clawdata.cli.target import open_target

    with open_target(url, load_code=False) as target:
        show_logs(target.graphql, run, step)


@dagster_group.command()
@click.option("--runs", default=10, show_default=True, help="How many recent runs to list (0: every run, as Dagster's limit).")
@click.pass_obj
def status(url, runs):
    """Each asset's last materialization, rows and checks; recent runs; schedules, sensors, daemon."""
    from clawdata.cli.status import status as show
    from clawdata.cli.target import open_target

    with open_target(url, load_code=False) as target:  # locally, records and the definitions' snapshot
        show(target, runs)


@dagster_group.group(cls=FriendlyGroup)
def sensor():
    """Sensors."""


@sensor.command()
@click.argument("name")
@click.pass_obj
def tick(url, name):
    """Evaluate sensor NAME now, submit what it requests, keep its cursor."""
    from clawdata.cli.sensor import tick as run_tick
    from clawdata.cli.target import open_target

    with open_target(url) as target:
        run_tick(target, name)


def main():
    # What the user can act on is the CLI's own output: Dagster's notes about its own APIs (beta and
    # preview parameters) are not for this terminal.
    warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
    # `kill`, a closed terminal: as Ctrl-C, so a local run is canceled and its warehouse slot freed
    # (Python would exit at once, the run left STARTED and holding the slot).
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        cli(prog_name="clawdata")
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    _exit(code)


def _exit(code) -> None:
    """Exit without the interpreter's teardown. A command that loaded Dagster and dbt spent 1-1.4 s
    after its last line freeing their objects one by one (measured: the `python` process in
    `benchmarks`' profile of a delivery). Everything is written by then (the instance, the warehouse
    and the run's logs are closed with the command's context), so: the exit handlers, the streams,
    then exit."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            pass
    if code is None:
        code = 0
    elif not isinstance(code, int):  # SystemExit("message"): print it, exit 1, as Python does
        print(code, file=sys.stderr)
        sys.stderr.flush()
        code = 1
    os._exit(code)
