"""dbt, run in this process by dbt's programmatic runner (`dbtRunner`) on a manifest parsed here.

Why not the `dbt` command that dagster-dbt starts:
- a dbt process pays its start-up and a parse (3-5 s per run on the 2-core hosts this runs on) for
  builds that often take a second;
- only the manifest object lets one build full-refresh some models and not others (dbt's own
  `full_refresh` model config, set on the node): an incremental model whose code changed starts
  over, the rest of the build stays incremental, as the same `dbt build` would do for it alone;
  and, the same way, run some tests on the changed rows only (dbt's own `where` test config).

`DbtBuild` runs `dbt build` in a thread and yields its events as the dicts `dbt --log-format json`
prints (what dagster-dbt turns into Dagster events), while the build goes on. dbt's log lines are
printed to this process's stdout as dbt prints them (the step's captured output). `cancel()` stops
it: the current query is interrupted and every later node fails as it starts. When the build ends, dbt's
DuckDB connection is closed, so the warehouse file is complete on disk and free for the next writer.
"""

import os
import queue
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from typing import TYPE_CHECKING

from clawdata import settings
from clawdata.gold import dbt_core, dbt_schemas

if TYPE_CHECKING:  # dbt's runner is imported by the step that runs it: loading the definitions does not need it
    from dagster_dbt import DbtProject
    from dbt.contracts.graph.manifest import Manifest

# The events dagster-dbt turns into assets and checks; the rest are printed or dropped.
RESULT_EVENTS = {"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult"}
# Fired while a node compiles or runs, inside dbt's own per-node error handling: raising there fails
# that node at once. (Result events come from the thread pool's result handler: an exception there
# would leave dbt waiting forever for the node.)
_STOPPABLE = {"NodeCompiling", "NodeExecuting", "SQLQuery"}
_DONE = object()


class BuildCanceled(Exception):
    """Raised inside dbt's thread at its next event once the build is canceled."""


def dbt_args(project_dir: Path, profiles_dir: Path, target: str | None, target_path: Path) -> list[str]:
    cli_vars = settings.dbt_vars()
    return ["--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir),
            *(["--target", target] if target else []), "--target-path", str(target_path),
            *(["--vars", cli_vars] if cli_vars else [])]


def load_manifest(project: "DbtProject") -> "Manifest":
    """The parsed project as an object dbt can run. It is read from the state dbt's own parse left
    (`partial_parse.msgpack`, written by the load-time parse that gold/project.py keeps in step with
    the project's files): 0.1-0.3 s where dbt's parse takes 2-5 s. Without that file (a project
    parsed elsewhere), dbt parses here, into a private folder (gold/project.py). The target path is the project's
    (relative to it, as dbt and DbtProject read it), whatever this process's working directory."""
    target_path = project.project_dir / project.target_path
    state = target_path / "partial_parse.msgpack"
    dbt_core.imported()
    if state.is_file():
        from dbt.contracts.graph.manifest import Manifest
        # dbt's own reader of this file: dates and datetimes (a microbatch model's `begin`) are msgpack
        # extension types there, which the plain decoder would leave undecoded.
        from dbt.parser.manifest import extended_mashumuro_decoder

        try:
            return Manifest.from_msgpack(state.read_bytes(), decoder=extended_mashumuro_decoder)
        except Exception:  # written by another dbt version: parse instead
            pass
    from clawdata.gold.project import parsed_privately

    with parsed_privately(project) as (_, manifest):
        return manifest


def warm_schemas(project: "DbtProject") -> Path:
    """dbt's config schemas built and kept (gold/dbt_schemas.py) by a dbt command that loads the
    project and profile as a build does and runs nothing: the image build does it once, for every run
    container started from the image."""
    dbt_core.imported()
    from dbt.cli.main import dbtRunner

    path = project.project_dir / project.target_path / dbt_schemas.FILE
    dbt_schemas.use(path)
    private = Path(tempfile.mkdtemp(prefix="clawdata-warm-"))
    try:
        result = dbtRunner(manifest=load_manifest(project)).invoke(
            ["--no-use-colors", "--log-level", "none", "--log-level-file", "none", "list", "--resource-type", "model",
             *dbt_args(project.project_dir, project.profiles_dir, project.target, private)])
        if not result.success:
            raise RuntimeError(f"dbt list failed for {project.project_dir}: {result.exception}")
    finally:
        shutil.rmtree(private, ignore_errors=True)
    dbt_schemas.save(path)
    return path


class DbtBuild:
    def __init__(self, manifest: "Manifest", project_dir: Path, profiles_dir: Path, target: str | None,
                 select: Sequence[str], exclude: Sequence[str] = (), full_refresh: bool = False,
                 full_refresh_nodes: Sequence[str] = (), test_where: Mapping[str, str] | None = None,
                 keep_compiled_in: Path | None = None, schemas_file: Path | None = None):
        for uid in full_refresh_nodes:  # dbt's own per-model config: this model starts over, alone
            manifest.nodes[uid].config.full_refresh = True
        for uid, where in (test_where or {}).items():  # dbt's own test config: the test reads these rows only
            manifest.nodes[uid].config.where = where
        # dbt's `graph` (every node, as dicts), which models, macros and hooks may read: dbt's parse makes
        # it, a manifest read from the parse's state has none. Made after the configs above, as dbt runs them.
        manifest.build_flat_graph()
        self._manifest = manifest
        external_root = os.environ.get(settings.EXTERNAL_ROOT_ENV)  # the generated profile's external_root
        if external_root:
            Path(external_root).mkdir(parents=True, exist_ok=True)
        self._target_path = Path(tempfile.mkdtemp(prefix="clawdata-dbt-"))
        # Where the build's compiled and run SQL is kept (`compiled/`, `run/`), as `dbt build` keeps it in
        # the project's target path: the paths dbt prints name it, not the private folder removed after.
        self._keep_compiled_in = keep_compiled_in
        self._schemas_file = schemas_file  # dbt's config schemas, kept between processes (gold/dbt_schemas.py)
        self._args = [
            "--no-use-colors", "--log-level-file", "none", "--log-level", "none",
            # the results come as events: no manifest.json and run_results.json to write (0.3 s at each build)
            "--no-write-json", "build",
            *dbt_args(project_dir, profiles_dir, target, self._target_path),
            "--select", *select, *(["--exclude", *exclude] if exclude else []), "--indirect-selection", "empty",
            *(["--full-refresh"] if full_refresh else []),
        ]
        self._events: queue.Queue = queue.Queue()
        self._canceled = threading.Event()
        self._stdout = sys.stdout
        self.success: bool | None = None
        self.error: BaseException | None = None
        # on-run-start and on-run-end hooks that failed (id -> "name: error"): they have no result event.
        self.hook_errors: dict[str, str] = {}
        # The error of each node that failed to run (the database's message: a result line says only
        # "ERROR creating ..."), from its NodeFinished event.
        self.node_errors: dict[str, str] = {}
        # A microbatch model's batches that failed (dbt's "partial success": the others were written).
        self.failed_batches: dict[str, list[str]] = {}
        # The nodes dbt skipped because a node or test they depend on failed (its SkippingDetails).
        self.skipped: set[str] = set()

    def __iter__(self) -> Iterator[dict]:
        # dbt's thread prints to the stdout the step began with, which Dagster captures for it: the
        # caller may point sys.stdout elsewhere between events (the CLI does, to print its own lines).
        self._stdout = sys.stdout
        thread = threading.Thread(target=self._run, name="dbt-build", daemon=True)
        thread.start()
        try:
            while (event := self._events.get()) is not _DONE:
                yield event
        except BaseException:  # the step was interrupted (Ctrl-C, a run canceled): stop dbt too
            self.cancel()
            raise
        finally:
            thread.join(timeout=60)
            close_dbt_duckdb()
            self._keep_compiled()
            shutil.rmtree(self._target_path, ignore_errors=True)

    def _keep_compiled(self) -> None:
        if self._keep_compiled_in is None:
            return
        for folder in ("compiled", "run"):
            if (self._target_path / folder).is_dir():
                try:
                    shutil.copytree(self._target_path / folder, self._keep_compiled_in / folder, dirs_exist_ok=True)
                except OSError:  # a read-only project: the failed nodes' SQL is in the step's output anyway
                    pass

    def _kept(self, text: str) -> str:
        return text.replace(str(self._target_path), str(self._keep_compiled_in)) if self._keep_compiled_in else text

    def cancel(self) -> None:
        self._canceled.set()
        try:
            from dbt.adapters.factory import get_adapter_by_type

            get_adapter_by_type("duckdb").cancel_open_connections()
        except Exception:  # no adapter yet, or nothing running: the next event stops the build
            pass

    def _run(self) -> None:
        from dbt.cli.main import dbtRunner

        try:
            if self._schemas_file:
                dbt_schemas.use(self._schemas_file)
            result = dbtRunner(manifest=self._manifest, callbacks=[self._on_event]).invoke(self._args)
            self.success, self.error = result.success, result.exception
            self.hook_errors = _hook_errors(result.result)
            if self._schemas_file:
                dbt_schemas.save(self._schemas_file)
        except BaseException as e:  # dbtRunner reports errors in its result; anything else is ours
            self.success, self.error = False, e
        finally:
            self._events.put(_DONE)

    def _on_event(self, msg) -> None:
        name, level = msg.info.name, msg.info.level
        if self._canceled.is_set() and name in _STOPPABLE:
            raise BuildCanceled("the run was canceled")
        if level in ("info", "warn", "error") and msg.info.msg:
            # dbt's own text log, as `dbt build` prints it (no colours), for the step's stdout.
            print(f"{datetime.now():%H:%M:%S}  {self._kept(msg.info.msg)}", file=self._stdout, flush=True)
        if name == "SQLCompiledPath":  # a failed node: its SQL where every reader of the step's output sees it
            print(_compiled_sql(Path(msg.data.path)), file=self._stdout, flush=True)
        if name == "SkippingDetails":
            self.skipped.add(msg.data.node_info.unique_id)
        if name == "NodeFinished" and msg.data.run_result.message not in ("", "ERROR"):
            uid = msg.data.node_info.unique_id
            # (a unit test that fails: its message is dbt's diff of actual and expected rows)
            if msg.data.run_result.status == "error" or (msg.data.run_result.status == "fail" and uid.startswith("unit_test.")):
                self.node_errors[uid] = msg.data.run_result.message
        if name == "GenericExceptionOnRun" and msg.data.exc:  # a microbatch model's batch: its NodeFinished says "ERROR"
            self.node_errors.setdefault(msg.data.unique_id, msg.data.exc)
        if name == "LogBatchResult" and msg.data.status == "error":  # "batch 2025-01-01 of main.events"
            self.failed_batches.setdefault(msg.data.node_info.unique_id, []).append(msg.data.description.split(" of ")[0])
        if name in RESULT_EVENTS:
            from dbt_common.events.functions import msg_to_dict

            self._events.put(msg_to_dict(msg))

    @staticmethod
    @contextmanager
    def warehouse_cursor():
        """A cursor on dbt's own connection to the warehouse, while the build runs (None when dbt is
        not on a local DuckDB file): another connection of this process to the file would be refused
        for its different configuration, and another process would wait for dbt's lock."""
        cursor = None
        try:
            from dbt.adapters.duckdb.connections import DuckDBConnectionManager

            conn = getattr(DuckDBConnectionManager._ENV, "conn", None)  # dbt-duckdb's open database
            cursor = conn.cursor() if conn is not None else None
        except Exception:
            cursor = None
        try:
            yield cursor
        finally:
            if cursor is not None:
                cursor.close()


def _compiled_sql(path: Path, most: int = 40) -> str:
    """A failed node's compiled SQL, indented under dbt's "compiled code at" line: in a run container the
    file goes with the container, and in the UI the step's output is what a user reads."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    shown = lines[:most] + ([f"... ({len(lines) - most} more lines)"] if len(lines) > most else [])
    return "\n".join("    | " + line for line in shown)


def _hook_errors(results) -> dict[str, str]:
    """The project's on-run-start/on-run-end hooks that failed, from dbt's run results: id -> "name: error"."""
    errors = {}
    for result in getattr(results, "results", None) or []:
        node = getattr(result, "node", None)
        if getattr(node, "resource_type", None) == "operation" and str(getattr(result.status, "value", result.status)) == "error":
            message = str(result.message or "").split("error:", 1)[-1]  # dbt writes "<hook> failed, error:\n <message>"
            errors[node.unique_id] = f"{node.name}: {' '.join(message.split()) or 'error'}"
    return errors


def close_dbt_duckdb() -> None:
    """dbt-duckdb keeps its database open after a build (`keep_open`, its default): close it, so
    the file is checkpointed and free (the replica copies it; the next step opens it its own way)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()
