"""`clawdata sql`: SQL on the read path (the published replica), never on the warehouse itself.

DuckDB's own shell would be the natural client, but the `duckdb-cli` package is a 1.5 build and
cannot read files written by DuckDB 2.0; this is DuckDB's Python package (pinned with the rest),
printing DuckDB's own box tables, with the dot commands a DuckDB user reaches for.
"""

import csv
import json
import os
import sys
from pathlib import Path

import duckdb

from clawdata import settings
from clawdata.cli.errors import ClawdataError
from clawdata.warehouse import replica

FORMATS = ("table", "csv", "json")
HELP = """\
Statements end with `;`. The replica is read-only; each statement runs on the newest published version.
  .tables            list the tables
  .schema [TABLE]    columns of one table, or of all
  .snapshot          which published version you are reading
  .mode table|csv|json
  .quit              (or Ctrl-D)"""


class Session:
    """A connection to the replica, reopened when a newer version has been published."""

    def __init__(self, path: Path):
        self.path, self.conn, self.inode = path, None, None

    def connection(self) -> duckdb.DuckDBPyConnection:
        inode = self.path.stat().st_ino if self.path.exists() else None
        if self.conn is None or inode != self.inode:
            self.close()
            self.conn, self.inode = replica.connect(self.path), inode
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_query(session: Session, query: str, fmt: str, out=sys.stdout) -> None:
    try:
        relation = session.connection().sql(query)
    except replica.ReplicaMissing as e:
        if os.environ.get("CLAWDATA_DAGSTER_URL"):  # the deployment's replica is in its volume, not here
            raise ClawdataError(f"{e}. CLAWDATA_DAGSTER_URL names a deployment: its replica is in the stack's volume; "
                                "read it with `make sql` (QUERY=\"...\"), or `clawdata sql --replica PATH` on a copy") from None
        raise ClawdataError(str(e)) from None
    except duckdb.CatalogException as e:  # a table built since the last publish is not served yet
        said = f"{type(e).__name__}: {e}".rstrip()
        raise ClawdataError(f"{said}\n{snapshot_line(session).removeprefix('-- ')}: a table built since is served after "
                            f"the next publish (a run that builds everything, or `clawdata dagster materialize "
                            f"{settings.REPLICA_ASSET}`; `clawdata dagster status` says why one did not publish)") from None
    except duckdb.Error as e:
        raise ClawdataError(f"{type(e).__name__}: {e}") from None
    if relation is None:  # a statement without a result (SET, CREATE TEMP TABLE ...)
        return
    if fmt == "table":
        out.write(str(relation) if relation.shape[0] else _empty(relation))
        return
    columns, rows = relation.columns, _as_text(relation, everything=fmt == "csv").fetchall()
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        json.dump([dict(zip(columns, row)) for row in rows], out, default=str, indent=1)
        out.write("\n")


def _as_text(relation, everything: bool):
    """The values as DuckDB writes them, where Python's would differ: a time's 'infinity' (Python has
    none: it came out as 9999-12-31 23:59:59.999999) and its zone's offset, a BLOB (a Python repr),
    an INTERVAL. CSV: every column (its text is DuckDB's, as DuckDB's own COPY writes it); JSON: those
    types only, numbers and booleans stay JSON's."""
    textual = ("TIMESTAMP", "DATE", "TIME", "BLOB", "INTERVAL", "BIT")
    cast = [everything or str(t).upper().startswith(textual) for t in relation.dtypes]
    if not any(cast):
        return relation
    return relation.project(", ".join(f"CAST({_quoted(c)} AS VARCHAR) AS {_quoted(c)}" if to_text else _quoted(c)
                                      for c, to_text in zip(relation.columns, cast)))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _empty(relation) -> str:
    return f"(no rows; columns: {', '.join(relation.columns)})\n"


def snapshot_line(session: Session) -> str:
    try:
        return f"-- {replica.snapshot_of(session.connection()).describe()}"
    except duckdb.Error:
        return f"-- {session.path}: not a clawdata replica (no snapshot table)"


def sql(query: str | None, fmt: str, path: Path) -> None:
    session = Session(path)
    try:
        if query is not None:
            command, _, argument = query.strip().partition(" ")
            if command in DOT:  # as in the shell (`clawdata sql .tables`)
                query = DOT[command].format(where=_table_filter(argument.strip()))
            run_query(session, query, fmt)
            # The version read, on stderr so that CSV/JSON output stays clean.
            print(snapshot_line(session), file=sys.stderr)
        else:
            shell(session, fmt)
    finally:
        session.close()


DOT = {
    ".tables": "SELECT table_schema AS schema, table_name AS name, table_type AS type FROM information_schema.tables "
               f"WHERE table_catalog = 'warehouse' AND table_schema <> '{replica.SNAPSHOT_SCHEMA}' ORDER BY 1, 2",
    ".schema": "SELECT table_name AS table, column_name AS column, data_type AS type FROM information_schema.columns "
               f"WHERE table_catalog = 'warehouse' AND table_schema <> '{replica.SNAPSHOT_SCHEMA}' {{where}} "
               "ORDER BY table_name, ordinal_position",
}


def shell(session: Session, fmt: str) -> None:
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    session.connection()  # a missing replica is reported before the prompt
    print(f"clawdata sql: DuckDB {duckdb.__version__} on the read path {session.path}")
    print(snapshot_line(session))
    print("Enter \".help\" for usage hints.")
    buffer: list[str] = []
    while True:
        try:
            line = input("   ...> " if buffer else "clawdata> ")
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print()
            buffer = []
            continue
        stripped = line.strip()
        if not buffer and stripped.startswith("."):
            command, _, argument = stripped.partition(" ")
            if command in (".quit", ".exit"):
                return
            fmt = dot_command(session, command, argument.strip(), fmt)
            continue
        if stripped:
            buffer.append(line)
        if stripped.endswith(";"):
            statement, buffer = "\n".join(buffer), []
            try:
                run_query(session, statement, fmt)
            except ClawdataError as e:
                print(f"Error: {e}", file=sys.stderr)


def _table_filter(table: str) -> str:  # `.schema NAME`: one table's columns
    return "AND table_name = '" + table.replace("'", "''") + "'" if table else ""


def dot_command(session: Session, command: str, argument: str, fmt: str) -> str:
    try:
        if command == ".help":
            print(HELP)
        elif command in DOT:
            run_query(session, DOT[command].format(where=_table_filter(argument)), fmt)
        elif command == ".snapshot":
            print(snapshot_line(session))
        elif command == ".mode" and argument in FORMATS:
            return argument
        else:
            print(f"Error: unknown command or invalid arguments: {command} {argument}\n{HELP}", file=sys.stderr)
    except ClawdataError as e:
        print(f"Error: {e}", file=sys.stderr)
    return fmt


def default_path() -> Path:
    from clawdata import settings

    return settings.replica_path()

