"""Gold: the dbt nodes as assets, dbt tests (unit tests included) as asset checks, run by `dbt build`.

One step builds what plan.py says changed (`state:modified+`, data included), in one `dbt build` run
in this process (gold/runner.py), and keeps the rest:
- reused nodes come first, in dbt's order, with their row counts, column types and data versions
  (one below a built node comes once what it reads has: Dagster takes outputs in dependency order);
  check results whose test and inputs are unchanged are replayed;
- then dbt's events as dbt reports them: each built node's materialization carries its row count and
  column types (read on dbt's own connection as the node finishes), each test its check result;
- a failed node or test (replayed or not) fails the step, naming each; what did get built is
  recorded all the same, so the next run builds only what is still behind.
"""

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DbtProject, dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dagster_duckdb import DuckDBResource

from clawdata.defs.gold import increments
from clawdata.defs.gold.plan import BASIS, CHECKED_ON, COVERS, Graph, Plan, SilverLog, make_plan
from clawdata.defs.gold.translator import GoldTranslator, declared_source_keys
from clawdata.defs.reuse import full_refresh
from clawdata.gold import dbt_core, dbt_leftovers, dbt_schemas, failed_hooks, kept_seeds
from clawdata.gold import manifest as gold_manifest
from clawdata.gold import project as gold_project
from clawdata.gold import runner
from clawdata.listing import few
from clawdata.settings import (
    FAILED_CODE_TAG, FAILED_METADATA, NOT_BUILT_METADATA, REPLICA_ASSET, TEST_VERSION, UPSTREAM_FAILED, WAREHOUSE_POOL,
)
from clawdata.warehouse.connection import connect
from clawdata.warehouse.tables import SILVER, row_count

FAILED = {"error", "fail", "runtime error", "partial success"}  # the last: a microbatch model with failed batches


def build_gold_assets(project: DbtProject, declared: Mapping[str, dg.AssetKey] | None = None,
                      silver_keys: Mapping[str, tuple[str, ...]] | None = None) -> dg.AssetsDefinition:
    """`declared`: the declared sources' tables (`silver.slv_x`) and their asset keys; `silver_keys`:
    their silver tables and their keys (their merges replace by key)."""
    manifest = gold_manifest.prepared(json.loads(project.manifest_path.read_text()))
    config = gold_project.project_config(project.project_dir)
    versions = gold_manifest.versions(manifest, project.project_dir, config.get("vars"), flags=config.get("flags"),
                                      cli_vars=gold_project.cli_vars(),
                                      package_vars=gold_project.package_vars(project.project_dir, config),
                                      target=project.target, session=gold_project.session_settings())
    declared = declared or {}
    reserved = frozenset([*declared.values(), dg.AssetKey(REPLICA_ASSET)])
    translator = GoldTranslator(versions, reserved, declared_source_keys(manifest, declared))
    graph = _graph(manifest, translator, versions, project)

    # A default selector (selectors.yml, `default: true`) is what a bare `dbt build` builds: the assets.
    default = next((name for name, selector in (manifest.get("selectors") or {}).items() if selector.get("default")), None)
    if default and not dbt_core.dagster_dbt_selects():  # (only where one process loads several projects: tests)
        raise RuntimeError(f"the dbt project at {project.project_dir} has a default selector ({default}), which "
                           "dagster-dbt evaluates with dbt-core, and this process imported dagster-dbt without it "
                           "for a project without selectors.yml (gold/dbt_core.py): load it in a process of its own")
    undeclared = _undeclared_silver(manifest, declared)

    def step(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> Iterator:
        full, nodes = full_refresh(context), manifest["nodes"]
        if undeclared:
            context.log.warning(
                f"{few(undeclared, 3)}: a source of the dbt project in schema silver that no declared source loads "
                "(its declaration removed or renamed?): what reads it reads the table as it was last loaded, never "
                "refreshed; declare it again (`clawdata source add`), or take it out of the dbt project")
        with connect(duckdb) as conn:
            existing = _tables(conn, [nodes[uid] for uid in graph.key_of if uid in nodes])
            logs = increments.read(conn, context.assets_def.asset_deps)
            hooks_failed = failed_hooks.read(conn)
        restarted = {uid for uid in nodes if uid in graph.key_of and gold_manifest.reads_change_logs(manifest, uid)
                     and increments.reads_restarted(graph.key_of[uid], logs, context.assets_def.asset_deps)}
        silver = {t: SilverLog(tuple(silver_keys[t]), batch, logs.complete_after[t])
                  for t, batch in logs.until.items() if t in (silver_keys or {})}
        # A view that binds to nothing (an external model's file gone, what it read dropped) is no
        # table: it is built again, where keeping it would fail every reader.
        readable = {uid for uid, table in existing.items() if table["rows"] is not None}
        plan = make_plan(context, graph, readable, full, restarted, silver)
        context.log.info(_describe(plan, graph))
        restarting = [graph.key_of[u].to_user_string() for u in plan.full_refresh_nodes
                      if graph.manifest["nodes"][u].get("resource_type") != "seed"]
        if restarting and not full:  # rows no longer upstream leave their tables: said where a user reads it
            context.log.warning("incremental models starting over (their definition, or what they read, changed; "
                                f"`full_refresh: false` in their config keeps their rows): {', '.join(restarting)}")

        # Dagster takes a multi-asset's outputs in dependency order: a reused node downstream of one this
        # build makes (its table gone, say) is said once what it reads is, with its kept check results:
        # just before a built node that reads it, or after the build.
        later = _downstream_of(graph, plan.reuse, set(plan.build))
        later_keys = {graph.key_of[u] for u in later}
        waiting = [u for u in plan.reuse if u in later]  # in dbt's order

        def reused(uids: list[str], replayed) -> Iterator:
            for uid in uids:
                yield _output(context, graph, uid, plan, existing[uid], {"reused": True})
            yield from (r for r in plan.replay if replayed(r.asset_key))

        def reused_read_by(uid: str | None) -> Iterator:
            """The waiting reused nodes `uid` reads, directly or not (all of them for None)."""
            if not waiting:
                return
            reads = _upstream(graph, uid) if uid is not None else None
            due = [u for u in waiting if reads is None or u in reads]
            for u in due:
                waiting.remove(u)
            keys = {graph.key_of[u] for u in due}
            yield from reused(due, keys.__contains__)

        yield from _not_built(graph, plan.skipped, "behind a test that fails")
        yield from reused([u for u in plan.reuse if u not in later], lambda key: key not in later_keys)
        failures = [f"{r.check_name}: failed, as when it last ran (the test and what it reads are unchanged)"
                    for r in plan.replay if not r.passed and r.severity == dg.AssetCheckSeverity.ERROR]
        failures += [f"{key.to_user_string()}: failed on the table run {run[:8]} built, unchanged since; what it holds back "
                     "is not built, as `dbt build` skips it (fix the data or the test, or build that table again)"
                     for key, run in plan.standing.items()]

        built: set[dg.AssetKey] = set()
        ran_hooks: dict[str, str] | None = None  # the failed hooks of the build, when dbt ran
        if plan.build or plan.tests:
            reloaded = [nodes[u] for u in plan.build if nodes[u]["resource_type"] == "seed" and u in existing
                        and (full or u in plan.full_refresh_nodes)]
            with connect(duckdb) as conn:  # dbt drops them before loading the new file
                kept = kept_seeds.keep(conn, reloaded)
            ran_hooks = {}
            events = _build(context, project, graph, plan, full, translator, failures, reused_read_by, ran_hooks)
            try:
                for event in events:
                    if isinstance(event, dg.Output):
                        built.add(context.asset_key_for_output(event.output_name))
                    yield event
            finally:
                events.close()  # dbt stopped and its connection closed, even when the step is interrupted
                if kept:
                    with connect(duckdb) as conn:
                        for name in kept_seeds.put_back(conn, kept):
                            context.log.warning(f"seed {name} did not load: its last table is kept")
        else:  # no dbt: its hooks did not run, and one that failed last is failing still
            for uid, (version, error) in hooks_failed.items():
                if graph.versions.get(uid) == version:
                    failures.append(f"hook {error} (as when it last ran: the hook is unchanged)")
                else:
                    context.log.warning(f"hook {error.split(':')[0]} changed since it failed: it runs at the next dbt build")
        yield from reused_read_by(None)
        with connect(duckdb) as conn:
            increments.taken_in(conn, logs, built, context.assets_def.asset_deps)
            if ran_hooks is not None:
                dbt_leftovers.drop(conn, nodes.values())
            if ran_hooks is not None:  # what this build left replaces what the last one did
                failed_hooks.write(conn, {uid: (graph.versions.get(uid, ""), error) for uid, error in ran_hooks.items()})
        if failures:  # (one a line where one is a unit test's diff, which has lines of its own)
            raise dg.Failure(description="dbt build: " + ("\n" if any("\n" in f for f in failures) else "; ").join(failures),
                             allow_retries=False,
                             metadata={FAILED_METADATA: len(failures)})

    @dbt_assets(manifest=manifest, project=project, dagster_dbt_translator=translator, pool=WAREHOUSE_POOL,
                **({"selector": default} if default else {}))
    def gold_models(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> Iterator:
        yield from _each_once(step(context, duckdb))

    return gold_models


def _undeclared_silver(manifest: Mapping[str, Any], declared: Mapping[str, dg.AssetKey]) -> list[str]:
    """The tables of schema silver the project's sources name that no declared source loads (only
    declared sources write silver: README). None said when no source was given at all (a test's
    gold alone)."""
    if not declared:
        return []
    named = {f"{s.get('schema')}.{s.get('identifier') or s['name']}" for s in manifest.get("sources", {}).values()
             if s.get("schema") == SILVER}
    return sorted(named - set(declared))


def _each_once(events: Iterator) -> Iterator:
    """The step's events, each output and check result once. Dagster refuses a second one by raising
    where it receives it, outside the step's code: the step failed with dbt still running and the
    warehouse open in this process, and every later step of the run failed to open it. Refused here,
    inside, the build is stopped and its connection closed first (`events.close()`)."""
    said = set()
    try:
        for event in events:
            if isinstance(event, dg.Output):
                key = f"output {event.output_name}"
            elif isinstance(event, dg.AssetCheckResult):
                key = f"check {event.asset_key.to_user_string() if event.asset_key else ''}:{event.check_name}"
            else:
                key = None
            if key is not None:
                if key in said:
                    raise dg.Failure(description=f"dbt build: {key} reported twice (two dbt nodes with one asset or "
                                                 "check name); the build was stopped", allow_retries=False)
                said.add(key)
            yield event
    finally:
        events.close()


def _graph(manifest: Mapping[str, Any], translator: GoldTranslator, versions: Mapping[str, str], project) -> Graph:
    key_of = {uid: translator.get_asset_key(props) for uid, props in manifest["nodes"].items()
              if props["resource_type"] in gold_manifest.REFABLE and not gold_manifest.is_ephemeral(props)}
    key_of |= {uid: translator.get_asset_key(props) for uid, props in manifest.get("sources", {}).items()}
    check_of = {}
    for uid, props in manifest["nodes"].items():
        if props["resource_type"] == "test":
            key = get_asset_check_key_for_test(manifest, translator, uid, project)
            if key is not None:
                check_of[uid] = key
    return Graph(manifest, key_of, check_of, versions, gold_manifest.volatile(manifest))


def _describe(plan: Plan, graph: Graph) -> str:
    def names(ids):
        return ", ".join(graph.key_of[u].to_user_string() if u in graph.key_of else u for u in ids) or "none"

    built = [f"{graph.key_of[u].to_user_string()} ({plan.reasons[u]})" for u in plan.build]
    lines = [f"gold: build {len(plan.build)}: {', '.join(built) or 'none'}", f"reuse {len(plan.reuse)}: {names(plan.reuse)}",
             f"tests to run {len(plan.tests)} ({len(plan.where)} on the changed rows alone), results kept {len(plan.replay)}"]
    if plan.full_refresh_nodes:
        lines.append(f"starting over (its code, or what it reads, changed): {names(plan.full_refresh_nodes)}")
    if plan.skipped:
        lines.append(f"skipped behind a test that fails, as dbt build skips them: {names(plan.skipped)}")
    return "; ".join(lines)


def _build(context, project: DbtProject, graph: Graph, plan: Plan, full: bool, translator, failures: list[str],
           reused_read_by, ran_hooks: dict[str, str]) -> Iterator:
    """Run dbt on the plan; yield its events as Dagster events (failures appended to `failures`), each
    built node's after `reused_read_by(node)`: the reused nodes it reads that are not said yet."""
    manifest, nodes = graph.manifest, graph.manifest["nodes"]
    parsed = runner.load_manifest(project)
    missing = [u for u in plan.build if u not in parsed.nodes]
    if missing:
        raise dg.Failure(description=f"the dbt project changed since the code location loaded ({', '.join(missing)} "
                                     "no longer parse): reload it (the UI reloads by itself; a CLI run loads anew)")
    for source_id, node_id in gold_manifest.own_table_sources(manifest).items():  # build order: the seed first
        for node in parsed.nodes.values():
            depends_on = getattr(node.depends_on, "nodes", None)  # seeds depend on macros only
            if depends_on is not None and source_id in depends_on and node_id not in depends_on:
                depends_on.append(node_id)
    select, exclude = _selection(manifest, plan.build + plan.tests)
    build = runner.DbtBuild(parsed, project.project_dir, project.profiles_dir, project.target, select, exclude,
                            full_refresh=full, full_refresh_nodes=plan.full_refresh_nodes, test_where=plan.where,
                            keep_compiled_in=project.project_dir / project.target_path,
                            schemas_file=project.project_dir / project.target_path / dbt_schemas.FILE)
    wanted = set(plan.build) | set(plan.tests)
    unit_results, unit_failed = {}, set()
    failed_nodes: list[tuple[int, str]] = []  # (index in failures, node): their errors are added at the end
    partial = set()  # microbatch models with batches written and batches failed
    stream = iter(build)
    try:
        for raw in stream:
            uid = raw["data"]["node_info"]["unique_id"]
            status = _status(raw)
            if uid.startswith("unit_test."):
                test = gold_manifest.unit_test_node_id(uid)
                if test in graph.check_of and test in wanted:
                    unit_results.setdefault(nodes[test]["attached_node"], []).append(
                        _unit_result(graph, test, raw, plan, build.node_errors.get(uid)))
                if status in FAILED:
                    failed_nodes.append((len(failures), uid))  # an error (not a failed expectation): its words
                    where = manifest.get("unit_tests", {}).get(uid, {}).get("original_file_path")
                    failures.append(f"unit test {raw['data']['node_info'].get('node_name', uid)}"
                                    f"{f' ({where})' if where else ''}: failed")
                    unit_failed.add(nodes[test]["attached_node"] if test in nodes else uid)
                continue
            if uid not in wanted:  # never selected on purpose: no event for a node this plan did not build
                context.log.warning(f"dbt ran {uid}, which was not planned; its result is not recorded")
                continue
            if status in FAILED:
                failed_nodes.append((len(failures), uid))
                failures.append(_failure(nodes[uid], raw))
                if status == "partial success":
                    partial.add(uid)
            for event in DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={}).to_default_asset_events(
                    manifest=manifest, dagster_dbt_translator=translator, context=context, project=project):
                if isinstance(event, dg.Output):
                    yield from reused_read_by(uid)
                    with build.warehouse_cursor() as cursor:
                        table = _tables(cursor, [nodes[uid]]).get(uid) if cursor is not None else None
                    yield _output(context, graph, uid, plan, table, {**event.metadata, "reused": False,
                                                                     "full_refresh": full or uid in plan.full_refresh_nodes})
                    yield from unit_results.pop(uid, [])
                elif isinstance(event, dg.AssetCheckResult):
                    scope = {CHECKED_ON: "changed rows" if uid in plan.where else "whole table",
                             **({COVERS: plan.covers[uid]} if uid in plan.covers else {})}
                    yield dg.AssetCheckResult(asset_key=event.asset_key, check_name=event.check_name, passed=event.passed,
                                              severity=event.severity, description=event.description,
                                              metadata={**event.metadata, BASIS: plan.bases.get(uid, ""), **scope,
                                                        TEST_VERSION: graph.versions.get(uid, "")})
                else:
                    yield event
    finally:
        stream.close()  # dbt stopped and its connection closed, whatever stopped this step
    for results in unit_results.values():  # a model whose unit test failed is skipped: report the test
        yield from results
    skipped = [u for u in plan.build if u in build.skipped]
    failed_builds = {u for _, u in failed_nodes if nodes.get(u, {}).get("resource_type") not in (None, "test")}
    if failed_builds & set(graph.key_of):  # which code failed: the inbox sensor builds it again once it changes
        context.instance.add_run_tags(context.run.run_id, {FAILED_CODE_TAG: json.dumps(
            {graph.key_of[u].to_user_string(): graph.versions.get(u) for u in sorted(failed_builds) if u in graph.key_of})})
    for uid in skipped:  # why: its unit test, or only tests failed above it, or a model, seed or snapshot did
        why = ("its unit test failed" if uid in unit_failed else
               UPSTREAM_FAILED if failed_builds & _upstream(graph, uid) else "behind a test that fails")
        yield from _not_built(graph, [uid], why)
    for index, uid in failed_nodes:  # the database's own words rather than dbt's "ERROR creating ..." line
        if uid in build.node_errors:
            named = failures[index].removesuffix(": failed") if uid not in nodes else _named(nodes[uid])
            batches = build.failed_batches.get(uid, [])
            failed = (f"{', '.join(batches)} failed{' (its other batches were written)' if uid in partial else ''}: "
                      if batches else "")
            failures[index] = f"{named}: {failed}{_node_error(uid, build.node_errors[uid])}"
    failures.extend(f"hook {error}" for error in build.hook_errors.values())  # `dbt build` fails on them too
    ran_hooks.update(build.hook_errors)
    if build.error is not None and not failures:  # dbt's heading ("Compilation Error") with what it says under it
        failures.append(_invocation_error(build.error))
    if build.success is False and not failures:  # dbt says the build failed, and nothing above said why
        failures.append("dbt build did not succeed (its log is in the step's output)")


def _downstream_of(graph: Graph, ids: list[str], built: set[str]) -> set[str]:
    """Those of `ids` (in dbt's order) with a node of `built` upstream."""
    found: set[str] = set()
    for uid in ids:
        if any(p in built or p in found for p in graph.parents(uid)):
            found.add(uid)
    return found


def _upstream(graph: Graph, uid: str) -> set[str]:
    """Every asset `uid` reads, directly or through others."""
    found, pending = set(), list(graph.parents(uid))
    while pending:
        parent = pending.pop()
        if parent not in found:
            found.add(parent)
            pending.extend(graph.parents(parent))
    return found


def _not_built(graph: Graph, uids, why: str) -> Iterator[dg.AssetObservation]:
    """What dbt did not build because something it depends on failed: said on each asset, so that
    `status` tells it from a node that failed itself (all gold nodes share one step)."""
    for uid in uids:
        if uid in graph.key_of:
            yield dg.AssetObservation(asset_key=graph.key_of[uid], metadata={NOT_BUILT_METADATA: why})


def _selection(manifest: Mapping[str, Any], ids: list[str]) -> tuple[list[str], list[str]]:
    """dbt selectors for exactly `ids`: `fqn:` selects by prefix, so the unplanned nodes a prefix
    also matches (a folder named like a model beside it) are excluded by their own fqn."""
    nodes, select = manifest["nodes"], []
    for uid in ids:
        unit = nodes[uid].get("clawdata_unit_test")
        select.append(f"unit_test:{nodes[uid]['package_name']}.{nodes[uid]['name']}" if unit else "fqn:" + ".".join(nodes[uid]["fqn"]))
    prefixes = [tuple(nodes[u]["fqn"]) for u in ids if not nodes[u].get("clawdata_unit_test")]
    wanted, exclude = set(ids), []
    for uid, node in nodes.items():
        fqn = tuple(node.get("fqn") or ())
        if uid not in wanted and not node.get("clawdata_unit_test") and any(fqn[:len(p)] == p for p in prefixes):
            exclude.append("fqn:" + ".".join(fqn))
    return select, exclude


def _output(context, graph: Graph, uid: str, plan: Plan, table: dict | None, metadata: Mapping[str, Any]) -> dg.Output:
    key = graph.key_of[uid]
    spec = context.assets_def.specs_by_key[key]
    extra = {**({"dagster/row_count": table["rows"]} if table["rows"] is not None else {}),
             "dagster/column_schema": _schema(spec, table["columns"])} if table else {}
    return versioned_output(None, output_name=context.assets_def.get_output_name_for_asset_key(key),
                            metadata={**metadata, **extra}, data_version=plan.versions[uid])


def versioned_output(value, **kwargs) -> dg.Output:
    """Each node's data version is given on its Output (the plan computed it, as Dagster would): Dagster
    calls that parameter beta and said so in every gold step's stderr (the UI's stderr tab, `logs`).
    Silenced at the call: a filter set when this module was imported was dropped, as Dagster imports
    the defs folder inside a `warnings.catch_warnings()` (every load through clawdata.definitions)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Parameter `?data_version`? of initializer `?Output", category=dg.BetaWarning)
        return dg.Output(value, **kwargs)


def _unit_result(graph: Graph, test: str, raw: dict, plan: Plan, said: str | None) -> dg.AssetCheckResult:
    """`said`: dbt's message of a failed unit test (its diff), the check's description in the UI."""
    check, status = graph.check_of[test], _status(raw)
    said = said if status != "pass" else None
    diff = _diff_text(said) if said else None
    return dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=status == "pass",
                               severity=dg.AssetCheckSeverity.ERROR,
                               description=(diff or _error_text(said)) if said else None,
                               metadata={"status": status, "unit_test": True, BASIS: plan.bases.get(test, ""),
                                         TEST_VERSION: graph.versions.get(test, ""),
                                         **({"diff": dg.MetadataValue.md(f"```\n{diff}\n```")} if diff else {})})


def _status(raw: dict) -> str:
    """A node's result: dbt puts it in node_info (the string "None" when unset, as for unit tests)."""
    status = raw["data"]["node_info"].get("node_status")
    return str(status if status not in (None, "", "None") else raw["data"].get("status", "")).lower()


def _failure(node: Mapping[str, Any], raw: dict) -> str:
    kind = node["resource_type"]
    if kind == "test":
        failures = raw["data"].get("num_failures")
        # named with its file, as a model is: a generic test's YAML, a singular test's SQL
        return f"{_named(node)}: failed" + (f" ({failures} failing row{'s' if failures != 1 else ''})" if failures else "")
    message = raw["info"].get("msg", "")
    return f"{_named(node)}: {message.strip().splitlines()[0] if message.strip() else 'error'}"


def _named(node: Mapping[str, Any]) -> str:
    """`model orders (models/marts/orders.sql)`: the kind, the name and the file to open."""
    where = node.get("original_file_path")
    return f"{node['resource_type']} {_label(node)}" + (f" ({where})" if where else "")


def _label(node: Mapping[str, Any]) -> str:
    """A node as dbt names it to a user: a versioned model with its version (`fct_orders.v2`)."""
    return node["name"] + (f".v{node['version']}" if node.get("version") is not None else "")


def _error_text(message: str) -> str:
    """dbt's error of a node on one line, without its 'Runtime Error in model x (path)' heading."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) > 1 and (" Error in " in lines[0] or lines[0].startswith("Exception on worker thread")):
        lines = lines[1:]
    # DuckDB's CSV reader (a seed's load) follows its error with the dialects it tried and a list of
    # every option there is: the error is what comes before them.
    cut = next((i for i, line in enumerate(lines) if line.startswith(("The search space used was", "Possible fixes"))), None)
    lines = lines[:cut] if cut else lines
    # dbt's macro call chain: the macro the error is in ("> in macro ...", a project's own macro as
    # often as dbt's) stays; its callers ("> called by ...", four or five lines) pushed the reason past
    # the line's length.
    lines = [line for line in lines if not line.startswith("> called by ")]
    # A Python model's traceback: its frames pushed the exception (what to fix) past the line's length.
    traceback = next((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")), None)
    if traceback is not None:
        raised = [i for i, line in enumerate(lines) if i > traceback and _RAISED.match(line)]
        lines = lines[:traceback] + (lines[raised[-1]:] if raised else lines[-1:])
    # A table dbt draws (a contract's mismatches) keeps its rows, not its rule lines and padding: the
    # reason, in its last column, then fits.
    text = " ".join(re.sub(r"\s{2,}", " ", line) for line in lines if not _TABLE_RULE.match(line))
    # DuckDB numbers the lines of the SQL dbt sent (Jinja rendered, wrapped in dbt's DDL), not of the
    # model's file: a user looked at line 68 of a file whose error was on line 59.
    text = re.sub(r"\bLINE (\d+):", r"LINE \1 of the compiled SQL:", text)
    return text if len(text) <= 600 else text[:597] + "..."


def _node_error(uid: str, message: str) -> str:
    """A failed node's words: a unit test's diff of rows, a row a line; any other error on one line
    (a unit test that did not compile too)."""
    return (_diff_text(message) if uid.startswith("unit_test.") else None) or _error_text(message)


def _diff_text(message: str, most: int = 20) -> str | None:
    """A unit test's failed expectation as dbt prints it: its heading, then the diff of actual and
    expected rows a row a line (`→ ,1 ,71→70`), indented; on one line its columns no longer lined up.
    None for any other error of a unit test (one that did not compile, say)."""
    lines = [line.rstrip() for line in message.strip().splitlines() if line.strip()]
    heading = next((i for i, line in enumerate(lines) if line.strip().startswith("actual differs from expected")), None)
    if heading is None:
        return None
    rows = lines[heading + 1:]
    shown = rows[:most] + ([f"... {len(rows) - most} more lines of the diff: clawdata dagster logs RUN"] if len(rows) > most else [])
    return "\n".join([lines[heading].strip(), *(f"    {row}" for row in shown)])


_RAISED = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b")  # a traceback's last words
_TABLE_RULE = re.compile(r"^\|?[\s|:-]*-{3,}[\s|:-]*\|?$")


def _invocation_error(error: BaseException) -> str:
    """An error of the dbt invocation itself (no node's): its heading and what it says, on one line
    ("Compilation Error: dbt found 2 package(s) ..."), where the heading alone said nothing."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0] + (": " + _error_text("\n".join(lines[1:])) if len(lines) > 1 else "")
    return text if len(text) <= 400 else text[:397] + "..."


def _tables(conn, nodes: list[Mapping[str, Any]]) -> dict[str, dict]:
    """Rows and (name, type) columns of each node's table or view, for those that exist."""
    wanted = {(n.get("schema"), n.get("alias") or n["name"]): n["unique_id"] for n in nodes}
    if not wanted:
        return {}
    columns: dict[tuple, list] = {}
    for schema, table, column, type_ in conn.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall():
        if (schema, table) in wanted:
            columns.setdefault((schema, table), []).append((column, type_))
    # (rows None: a view that no longer binds, dropped under it outside dbt; the build replaces it)
    return {wanted[(schema, table)]: {"rows": row_count(conn, schema, table), "columns": cols}
            for (schema, table), cols in columns.items()}


def _schema(spec: dg.AssetSpec, columns: list[tuple[str, str]]) -> dg.TableSchema:
    """The table's columns and types, with the descriptions dbt documents."""
    documented = spec.metadata.get("dagster/column_schema")
    documented = getattr(documented, "schema", documented)  # a TableSchemaMetadataValue in a spec
    descriptions: Mapping[str, Any] = {c.name: c.description for c in documented.columns} if documented else {}
    return dg.TableSchema(columns=[dg.TableColumn(name, type_, description=descriptions.get(name)) for name, type_ in columns])
