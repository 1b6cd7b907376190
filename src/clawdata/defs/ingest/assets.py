"""Bronze and silver assets, two per declared source, written through write-audit-publish."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from clawdata.defs.reuse import built_from_same_inputs, files_fingerprint, fingerprint, full_refresh, latest_data_version
from clawdata.gold import project as gold_project
from clawdata import settings
from clawdata.settings import WAREHOUSE_POOL
from clawdata.sources import declarations
from clawdata.sources.audits import before_first_rows, raw_audits, silver_audits
from clawdata.sources.database import DatabaseSourceSpec, InspectionError, load_bronze_from_database
from clawdata.sources.loads import load_bronze, merge_silver
from clawdata.sources.spec import FileSourceSpec as Source, outranked, reserved_among, shown
from clawdata.warehouse import ledger
from clawdata.warehouse.connection import connect
from clawdata.warehouse.files import BadInputFile, check_header
from clawdata.warehouse.publish import Audit, AuditFailed, AuditResult, Published, reuse_table


# Bump to rebuild every table even where inputs and SQL are unchanged (e.g. after a change in
# warehouse/ that alters how tables are written).
CODE_REVISION = 3  # 3: declared sources (any format, keys of several columns, delivery order by `_row`)
# Database tables only (each bump: one full load, with dlt's stored types dropped): 2, NUMERIC without
# precision read as DOUBLE; 3, JSON read as the database's text; 4, PostgreSQL dates and times read as its
# text (infinity kept), in UTC; 5, a NUMERIC declared DOUBLE read as one, a column of no type as its text;
# 6, dlt's extract table made anew at a full load (it had kept its first types: a DOUBLE went on rounded).
DATABASE_REVISION = 6
# Files only (each bump: one rebuild of the files): 2, deliveries ranked with the numbers in their names
# compared as numbers; 3, a time without zone in a TIMESTAMPTZ column read as UTC (it was the machine's zone);
# 4, deliveries in folders ranked by their path in the inbox (the folder first), and a delivery's inode
# change time in its fingerprint.
FILES_REVISION = 4


def build_ingest_assets(source: Source, declared_in: str | None = None) -> list[dg.AssetsDefinition]:
    """`declared_in`: the declaration's file, named in the assets' metadata (and in load errors)."""
    where = {"clawdata/declared_in": declared_in} if declared_in else {}
    if isinstance(source, DatabaseSourceSpec):
        freshness = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=source.freshness_hours))
        return [_database_bronze_asset(source, where, freshness), _silver_asset(source, where, freshness)]
    return [_bronze_asset(source, where), _silver_asset(source, where)]


def declaration(source: Source) -> dict:
    """The declaration as deployed, on its bronze asset: `clawdata source list --url` reads the
    deployment's sources there (no password: it is never part of one)."""
    kind = declarations.DATABASE_SOURCE if isinstance(source, DatabaseSourceSpec) else declarations.FILE_SOURCE
    return {declarations.METADATA: dg.MetadataValue.json({"type": kind, "attributes": source.model_dump(mode="json", exclude_defaults=True)})}


def _database_bronze_asset(source: DatabaseSourceSpec, where: dict, freshness) -> dg.AssetsDefinition:
    audits = raw_audits(source)
    code_version = fingerprint(CODE_REVISION, DATABASE_REVISION, source.url, source.table, source.types, source.key,
                               source.cursor, [a.sql for a in audits])

    @dg.asset(
        name=source.raw_table,
        group_name="bronze",
        description=f"{source.description} The rows of {source.table}, loaded by dlt "
                    f"({'those whose ' + source.cursor + ' moved' if source.cursor else 'in full'} at each run).".strip(),
        kinds={"duckdb", "dlt"},
        owners=source.owners or None,
        pool=WAREHOUSE_POOL,
        code_version=code_version,
        check_specs=_check_specs(source.raw_table, audits),
        freshness_policy=freshness,
        metadata={"dagster/table_name": source.bronze.qualified, "source": f"{source.url} {source.table}", **where,
                  **declaration(source)},
    )
    def bronze(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> Iterator:
        yield from _audited(context, source.raw_table, lambda: load(context, duckdb))

    def load(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        with connect(duckdb) as conn:
            checks = audits if _rows_held(conn, source) else before_first_rows(audits)
            loaded = load_bronze_from_database(conn, source, code_version, checks, full_refresh(context))
        # Nothing new: the table is kept as it was, under the same data version, so what is built
        # from it is kept too.
        nothing_new = not loaded.rows_read and not loaded.full
        previous = latest_data_version(context.instance, context.asset_key)
        version = previous if previous and nothing_new else fingerprint(code_version, context.run.run_id, loaded.rows_read)
        context.log.info(f"{source.name}: {loaded.rows_read:,} rows read from {source.table}"
                         f"{' (in full)' if loaded.full else ''}")
        if loaded.new_columns:  # as a file's undeclared columns are said: the table goes on without them
            context.log.warning(f"source {source.name}: columns of {source.table} the declaration does not name, not loaded: "
                                f"{', '.join(loaded.new_columns)} (declare them in its YAML to load them; listed in its "
                                "source_types alone, they are known and not said again)")
        if loaded.cursor_ahead:
            context.log.warning(f"source {source.name}: cursor {source.cursor} reached {loaded.cursor_ahead}, ahead of the clock: "
                                f"each load reads the rows whose {source.cursor} is at least that, so a row changed later with an "
                                f"earlier {source.cursor} is not read until a full load (`clawdata dagster materialize "
                                f"{source.raw_table} --full-refresh`, once); for good, declare a cursor that follows the "
                                f"changes, or read a view that leaves such values out of {source.cursor}")
        return _materialize_result(context, source.raw_table, loaded.published, dg.DataVersion(version), {
            "rows_read": dg.MetadataValue.int(loaded.rows_read), "full_load": dg.MetadataValue.bool(loaded.full),
            "ignored_columns": dg.MetadataValue.json(loaded.new_columns),
            **({"reused": dg.MetadataValue.bool(True)} if nothing_new else {})})

    return bronze


def _bronze_asset(source: Source, where: dict) -> dg.AssetsDefinition:
    audits = raw_audits(source)
    code_version = fingerprint(CODE_REVISION, FILES_REVISION, source.format, source.types, source.null_markers, source.date_format,
                               source.timestamp_format, [a.sql for a in audits],
                               *([source.delimiter] if source.delimiter != "," else []),
                               *([source.decimal_separator] if source.decimal_separator != "." else []),
                               *([source.encoding] if source.encoding != "utf-8" else []))

    @dg.asset(
        name=source.raw_table,
        group_name="bronze",
        description=f"{source.description} Every delivered row, typed, as delivered.".strip(),
        kinds={"duckdb", source.format},
        owners=source.owners or None,
        pool=WAREHOUSE_POOL,
        code_version=code_version,
        check_specs=_check_specs(source.raw_table, audits),
        metadata={"dagster/table_name": source.bronze.qualified, **where, **declaration(source)},
    )
    def bronze(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> Iterator:
        yield from _audited(context, source.raw_table, lambda: load(context, duckdb))

    def load(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        # Headers are checked before the warehouse is opened: a bad delivery costs no lock time.
        files = source.input_files(declarations.specs())  # a file another source names more closely is its
        headers = [check_header(path, source.types, source.format, source.delimiter, source.decimal_separator, source.optional,
                                source.encoding) for path in files]
        version = files_fingerprint([h.path for h in headers], code_version)
        full = full_refresh(context)
        unchanged = not full and latest_data_version(context.instance, context.asset_key) == version
        with connect(duckdb) as conn:
            held = _rows_held(conn, source)
            if not files:
                _no_file_yet(context, source, held)
            checks = audits if held else before_first_rows(audits)
            published, loaded = (unchanged and reuse_table(conn, source.bronze, checks)), []
            before = set(ledger.loaded_files(conn, source.raw_table)) if ledger.exists(conn) else set()
            if not published:
                published, loaded = load_bronze(conn, source, headers, code_version, checks, full)
            history = ledger.file_history(conn, source.raw_table) if ledger.exists(conn) else []
        arrivals = [Path(f) for f, *_ in history if f not in before and Path(f).name in loaded]
        late = outranked(arrivals, [Path(f) for f, *_ in history if f in before]) if not source.order_by else []
        if late:  # said by the run that takes them in: the name decides for good, a rebuild included
            new, old = (p.relative_to(settings.inbox_dir()).as_posix() if p.is_relative_to(settings.inbox_dir()) else p.name
                        for p in late[0])
            context.log.warning(f"source {source.name}: {new}, delivered now, ranks before {old}, delivered "
                                f"earlier{f' (and {len(late) - 1} more)' if len(late) > 1 else ''}: where both hold a key, "
                                f"{old}'s row wins, as without `order_by` the file last in name order wins (numbers "
                                "compared as numbers). Name deliveries so that a later one sorts later "
                                "(a date as YYYY-MM-DD), or declare `order_by`")
        empty = sorted(Path(f).name for f, rows, *_ in history if not rows and Path(f).name in loaded)
        if empty:  # taken (it removes nothing), but an export that wrote its header alone is worth a look
            context.log.warning(f"source {source.name}: no row in {', '.join(empty)} (a header alone)")
        ignored = sorted({f"{h.path.name}: {c}" for h in headers for c in h.ignored})
        new_columns = sorted({c for h in headers if h.path.name in loaded for c in h.ignored})
        own = reserved_among(new_columns, source.reserved_columns)
        if own:  # (a declaration cannot name them)
            context.log.warning(f"source {source.name}: columns named as bronze's own, left out: {', '.join(own)} "
                                "(rename them in the files to load them)")
        new_columns = [c for c in new_columns if c not in own]
        if new_columns:  # said once, by the run that takes the file in: the table goes on without them
            context.log.warning(f"source {source.name}: columns the declaration does not name, left out: "
                                f"{', '.join(new_columns)} (declare them in its YAML to keep them)")
        return _materialize_result(context, source.raw_table, published, dg.DataVersion(version), {
            "source_files": dg.MetadataValue.json([str(h.path) for h in headers]),
            "source_file_count": len(headers),  # `clawdata source list --url`: the deployment's files, not the CLI's
            "files_loaded": dg.MetadataValue.json(loaded),  # by this run: new or re-delivered
            "deliveries": _deliveries_table(history),
            "ignored_columns": dg.MetadataValue.json(ignored),
        })

    return bronze


def _rows_held(conn, source: Source) -> int:
    return conn.execute(f"SELECT count(*) FROM {source.bronze}").fetchone()[0] if source.bronze.exists(conn) else 0


def _no_file_yet(context: dg.AssetExecutionContext, source: Source, held: int) -> None:
    """No file in the folders. Before the first delivery the source's tables are built empty, so
    a declaration can come before its data without failing every run (and what reads it, the replica
    included); once bronze holds rows, their files gone is an error that keeps those rows (an inbox
    emptied by mistake, a volume not mounted), never an empty table."""
    inbox, sample = source.patterns()
    looked = ", ".join(f"{shown(p)} in {folder}" for p, folder in ((sample, settings.sample_dir()), (inbox, settings.inbox_dir())) if p)
    if held:
        raise BadInputFile(f"source {source.name}: no file found ({looked or 'it names no file pattern'}): bronze holds "
                           f"{held:,} rows of earlier files, kept, with silver and what is built from them; deliver the "
                           "files again (or remove the declaration to stop reading the source)")
    context.log.warning(f"source {source.name}: no file delivered yet ({looked or 'it names no file pattern'}): "
                        f"{source.raw_table} and {source.silver_table} are empty until its first file")


def _silver_asset(source: Source, where: dict, freshness=None) -> dg.AssetsDefinition:
    audits = silver_audits(source)
    code_version = fingerprint(CODE_REVISION, source.silver_select(), [a.sql for a in audits])
    latest = f"latest {source.order_by} wins" if source.order_by else "latest delivery wins"

    @dg.asset(
        name=source.silver_table,
        group_name=source.group,
        description=f"{source.description} Cleaned: one row per {', '.join(source.key)}, {latest}.".strip(),
        kinds={"duckdb"},
        owners=source.owners or None,
        deps=[source.raw_table],
        pool=WAREHOUSE_POOL,
        code_version=code_version,
        check_specs=_check_specs(source.silver_table, audits),
        freshness_policy=freshness,
        metadata={"dagster/table_name": source.silver.qualified, **where},
    )
    def silver(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> Iterator:
        yield from _audited(context, source.silver_table, lambda: merge(context, duckdb))

    def merge(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        full = full_refresh(context)
        unchanged = not full and built_from_same_inputs(context, context.asset_key, code_version, [dg.AssetKey(source.raw_table)])
        with connect(duckdb) as conn:
            published = (unchanged and reuse_table(conn, source.silver, audits)) or merge_silver(
                conn, source, code_version, audits, full)
        # Column descriptions: the declaration's, then the dbt project's sources.yml where it documents more.
        docs = {**source.column_docs(), **gold_project.source_column_docs().get(tuple(context.asset_key.path), {})}
        # Its data version names its content: new when the table changed, the previous one when it was
        # kept (reused, or a merge of nothing), so what is built from it is kept too. Not derived from
        # bronze's version: a warehouse restored from a backup rebuilds silver from the same files.
        previous = latest_data_version(context.instance, context.asset_key)
        version = previous if previous and not published.changed else fingerprint(code_version, context.run.run_id)
        return _materialize_result(context, source.silver_table, published, dg.DataVersion(version), {}, docs)

    return silver


def _check_specs(table: str, audits: list[Audit]) -> list[dg.AssetCheckSpec]:
    # Blocking: a failed audit fails the step, so nothing downstream reads the rejected data.
    return [dg.AssetCheckSpec(a.name, asset=table, description=a.description, blocking=True) for a in audits]


def _audited(context: dg.AssetExecutionContext, table: str, write: Callable[[], dg.MaterializeResult]) -> Iterator:
    """The step's result. Bad input and failed audits end the step with a one-line message, not a
    traceback; a failed audit's results are recorded first, as the table's checks (failed, in the UI
    and in the CLI's count, not skipped), as when they pass."""
    try:
        result = write()
    except (BadInputFile, InspectionError) as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None
    except AuditFailed as e:
        yield from _check_results(context, table, e.results, e.incremental)
        raise dg.Failure(
            description=str(e),
            metadata={r.audit.name: r.observed for r in e.results},
            allow_retries=False,
        ) from None
    yield result


def _materialize_result(
    context: dg.AssetExecutionContext,
    table: str, published: Published, data_version: dg.DataVersion | None, extra: dict,
    column_docs: dict[str, str] | None = None,
) -> dg.MaterializeResult:
    profile, results = published.profile, published.results
    names, rows = profile["preview"]
    print(f"{table}: {profile['rows']:,} rows, {'reused' if published.reused else 'published'}")  # the step's stdout
    return dg.MaterializeResult(
        data_version=data_version,  # None: Dagster derives it from code version and inputs
        metadata={
            "reused": dg.MetadataValue.bool(published.reused),
            "incremental": dg.MetadataValue.bool(published.incremental),
            "dagster/row_count": dg.MetadataValue.int(profile["rows"]),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, type_, description=(column_docs or {}).get(name))
                         for name, type_ in profile["schema"]]
            ),
            "preview": dg.MetadataValue.md(_markdown_table(names, rows)),
            **extra,
        },
        check_results=_check_results(context, table, results, published.incremental),
    )


def _check_results(context: dg.AssetExecutionContext, table: str, results: list[AuditResult],
                   incremental: bool) -> list[dg.AssetCheckResult]:
    # The audits ran either way (they guard the publish); results only for the checks the run
    # selected (a run of a subset would log every other one as "not selected").
    return [
        dg.AssetCheckResult(
            check_name=r.audit.name, asset_key=table, passed=r.passed, metadata={
                "observed": r.observed,
                "checked_on": "changed rows" if incremental and r.audit.on_changes else "whole table",
            })
        for r in results if dg.AssetCheckKey(dg.AssetKey(table), r.audit.name) in context.selected_asset_check_keys
    ]


def _deliveries_table(history: list[tuple], shown: int = 50) -> dg.MetadataValue:
    """The files bronze holds, latest loads first: which, when, how many rows."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"file": Path(f).name, "rows": rows, "batch": batch, "loaded_at": str(at)[:19]})
                 for f, rows, batch, at in history[:shown]],
        schema=dg.TableSchema(columns=[dg.TableColumn("file", "string"), dg.TableColumn("rows", "int"),
                                       dg.TableColumn("batch", "int"), dg.TableColumn("loaded_at", "string")]),
    )


def _markdown_table(names: list[str], rows: list[tuple]) -> str:
    def cell(value) -> str:
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
