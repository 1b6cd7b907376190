"""The dbt manifest as clawdata reads it: every test is a check, and every node has a version.

`prepared(manifest)` is a copy for Dagster's side (the assets and checks dagster-dbt builds):
- every test has the node it checks (`attached_node`): a generic test on a source with a second
  parent (relationships to another source) on the source it tests; a singular test with several
  parents on the most downstream of them, unless its `meta.dagster.ref` names one. dagster-dbt would
  log either as observations on every parent, so its failure would be seen by nobody;
- every unit test is also a test node on the model it tests, so it is a check like the others
  (dagster-dbt 0.29 reports nothing for unit tests);
- a source whose table a node of the project builds (a seed read through `source()`, as jaffle-shop
  projects do) is that node: what reads the source depends on it (one asset, lineage from the seed).

`versions(...)` is each node's definition as dbt's `state:modified` compares it (SQL or seed file,
config, relation, contract, the macros it calls, transitively) plus what dbt does not compare but
changes the data all the same: the values of the `var()`s and `env_var()`s it reads and the versions
of the ephemeral models inlined into it. A node's version is its Dagster code version; a test's is
kept with its check result, which is replayed only while it holds.
"""

import copy
import hashlib
import json
import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from clawdata.gold.project import ENV_VAR_CALL
from clawdata.warehouse.files import READS_FILES

REFABLE = ("model", "seed", "snapshot")
# Config that documents a node without changing its data: an edit to it builds nothing.
_DOC_CONFIG = {"tags", "group", "meta", "docs", "description", "persist_docs"}
_SOURCE_ARG = re.compile(r"""source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")
_VAR = re.compile(r"""\bvar\(\s*['"]([^'"]+)['"]""")
_VAR_BY_NAME = re.compile(r"""\bvar\(\s*[^\s'")]""")  # var(name): which var, only the run knows
_GRAPH = re.compile(r"\bgraph\b")  # dbt's `graph`: every node of the project, as the SQL reads it
_DESCRIPTION = re.compile(r"\bdescription\b")  # `{{ model.description }}`: the docs are data there
_TARGET = re.compile(r"\btarget\.(name|target_name)\b")  # `{% if target.name == 'prod' %}`: an input then
BUILTIN_PACKAGES = ("dbt", "dbt_duckdb")  # their macros change with their versions alone
UNIT_TEST_SUFFIX = ".unit"  # test.<package>.<unit test>.unit: a unit test as a test node
# What a node's SQL reads afresh at every `dbt build` without any input showing it: the clock, chance,
# the run itself, and files its SQL reads directly. Such a node is never kept (volatile()).
_VOLATILE = re.compile(
    r"\b(current_timestamp|current_date|current_time|current_localtimestamp|current_localtime|localtimestamp"
    r"|localtime|run_started_at|invocation_id)\b"
    r"|\b(now|utcnow|today|get_current_timestamp|get_current_time|transaction_timestamp|random|uuid|uuidv4|uuidv7"
    r"|gen_random_uuid)\s*\(|" + READS_FILES.pattern,
    re.IGNORECASE)
# A relation named by Jinja at run time, in a node's own code (not its macros': dbt's `is_incremental()`
# asks adapter.get_relation about the model itself): what it reads is no dependency dbt knows.
_RELATION_AT_RUN_TIME = re.compile(
    r"\b(api\.Relation\.create|adapter\.get_relation|load_relation|get_relations_by_(pattern|prefix)|run_query)\s*\("
    r"|\{\{-?\s*(target|this)\.(schema|database)\s*-?\}\}\s*\.", re.IGNORECASE)
# Comments say nothing about what runs: Jinja's, and SQL's block and line comments.
_COMMENTS = re.compile(r"\{#.*?#\}|/\*.*?\*/|--[^\n]*", re.DOTALL)
VOLATILE_META = "volatile"  # meta: {clawdata: {volatile: true|false}} says it where the SQL cannot


def is_ephemeral(node: Mapping[str, Any]) -> bool:
    """A model dbt inlines into its readers' SQL: no table, no asset."""
    return (node.get("config") or {}).get("materialized") == "ephemeral"


def unit_test_node_id(unit_test_id: str) -> str:
    _, package, *_, name = unit_test_id.split(".")
    return f"test.{package}.{name}{UNIT_TEST_SUFFIX}"


def prepared(manifest: Mapping[str, Any]) -> dict:
    manifest = copy.deepcopy(dict(manifest))
    _set_disabled_aside(manifest)
    _read_own_tables_through_sources(manifest)
    _attach_source_tests(manifest)
    _reach_tests_of_sources_no_model_reads(manifest)
    _attach_multi_parent_tests(manifest)
    _attach_tests_of_ephemeral_models(manifest)
    _unit_tests_as_tests(manifest)
    _distinct_test_names(manifest)
    return manifest


def _set_disabled_aside(manifest: dict) -> None:
    """dbt keeps some disabled nodes among the enabled ones (the tests declared on a versioned model,
    for a version whose own config disables it: their model is under `disabled`). `dbt build` runs
    none of them; here they are where dbt keeps the rest, so nothing asks for what they attach to."""
    for kind in ("nodes", "unit_tests"):
        for uid in [uid for uid, node in manifest.get(kind, {}).items() if (node.get("config") or {}).get("enabled") is False]:
            manifest.setdefault("disabled", {}).setdefault(uid, []).append(manifest[kind].pop(uid))
            for edges in (manifest.get("parent_map", {}), manifest.get("child_map", {})):
                for other in edges.pop(uid, []):
                    edges[other] = [n for n in edges.get(other, []) if n != uid]


def own_table_sources(manifest: Mapping[str, Any]) -> dict[str, str]:
    """source id -> id of the project's node that builds the table the source names."""
    built = {}
    for uid, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") in REFABLE:
            built[(node.get("schema"), node.get("alias") or node["name"])] = (node.get("database"), uid)
    found = {}
    for uid, source in manifest.get("sources", {}).items():
        match = built.get((source.get("schema"), source.get("identifier") or source["name"]))
        if match and (source.get("database") in (None, match[0])):
            found[uid] = match[1]
    return found


def _read_own_tables_through_sources(manifest: dict) -> None:
    for source_id, node_id in own_table_sources(manifest).items():
        for uid, node in manifest["nodes"].items():
            nodes = node.get("depends_on", {}).get("nodes", [])
            if source_id in nodes:
                node["depends_on"]["nodes"] = list(dict.fromkeys(node_id if n == source_id else n for n in nodes))
                if node.get("attached_node") == source_id:
                    node["attached_node"] = node_id
        children = manifest.get("child_map", {}).pop(source_id, [])
        manifest.setdefault("child_map", {}).setdefault(node_id, [])
        manifest["child_map"][node_id] = list(dict.fromkeys(manifest["child_map"][node_id] + children))
        for child in children:
            parents = manifest.get("parent_map", {}).get(child, [])
            manifest["parent_map"][child] = list(dict.fromkeys(node_id if p == source_id else p for p in parents))


def _attach_source_tests(manifest: dict) -> None:
    sources = {(s["package_name"], s["source_name"], s["name"]): uid for uid, s in manifest.get("sources", {}).items()}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "test" or node.get("attached_node"):
            continue
        tested = _SOURCE_ARG.search(str((node.get("test_metadata") or {}).get("kwargs", {}).get("model", "")))
        if tested and (node["package_name"], *tested.groups()) in sources:
            node["attached_node"] = sources[(node["package_name"], *tested.groups())]


ORPHAN_SOURCE_TEST = "clawdata_source_no_model_reads"  # on such a test node: the source it tests


def _reach_tests_of_sources_no_model_reads(manifest: dict) -> None:
    """dagster-dbt makes a source's tests checks only where a model it builds reads the source, so
    the tests of a source no model reads (yet, or any longer) were left out, where `dbt build` runs
    them: a failing one unseen. dagster-dbt asks the translator for the checks of the tests among
    each asset node's children: such a test is listed there under the first asset node, marked with
    its source, and the translator (defs/gold/translator.py) puts it on the source's asset."""
    nodes, child_map = manifest.get("nodes", {}), manifest.setdefault("child_map", {})
    first = min((uid for uid, node in nodes.items() if node.get("resource_type") in REFABLE and not is_ephemeral(node)),
                default=None)
    if first is None:
        return
    for uid, node in nodes.items():
        source = node.get("attached_node") or ""
        # (read by an exposure or an analysis alone: no model reads it either)
        if node.get("resource_type") == "test" and source in manifest.get("sources", {}) and \
                not any(nodes.get(child, {}).get("resource_type") in REFABLE for child in child_map.get(source, [])):
            node[ORPHAN_SOURCE_TEST] = source
            child_map.setdefault(first, []).append(uid)


def _attach_multi_parent_tests(manifest: dict) -> None:
    nodes = manifest.get("nodes", {})
    ancestors = _ancestors(manifest)
    for node in nodes.values():
        parents = node.get("depends_on", {}).get("nodes", [])
        ref = ((node.get("config") or {}).get("meta") or node.get("meta") or {}).get("dagster", {}).get("ref")
        if node.get("resource_type") != "test" or node.get("attached_node") or len(parents) < 2 or ref:
            continue
        node["attached_node"] = _most_downstream(nodes, ancestors, parents)


def _most_downstream(nodes: Mapping[str, Any], ancestors, candidates: list[str]) -> str:
    """Of `candidates`, the node no other one reads (models, seeds and snapshots before sources)."""
    refable = [p for p in candidates if p in nodes and nodes[p].get("resource_type") in REFABLE] or sorted(candidates)
    downstream = [p for p in refable if not any(p in ancestors(q) for q in refable if q != p)]
    return sorted(downstream or refable)[-1]


def _attach_tests_of_ephemeral_models(manifest: dict) -> None:
    """A test of an ephemeral model (no asset: dbt inlines it) checks what the model computes from the
    assets it reads: it goes on the most downstream of them, so it is a check that runs (dbt builds
    it, the ephemeral SQL inlined) rather than none at all."""
    nodes, parent_map, ancestors = manifest.get("nodes", {}), manifest.setdefault("parent_map", {}), _ancestors(manifest)

    def read_by(uid: str) -> list[str]:
        found, pending, seen = [], [uid], {uid}
        while pending:
            for parent in parent_map.get(pending.pop(), []):
                if parent not in seen:
                    seen.add(parent)
                    (pending if parent in nodes and is_ephemeral(nodes[parent]) else found).append(parent)
        return found

    for node in nodes.values():
        parents = node.get("depends_on", {}).get("nodes", [])
        target = node.get("attached_node") or (parents[0] if len(parents) == 1 else None)
        if node.get("resource_type") != "test" or target not in nodes or not is_ephemeral(nodes[target]):
            continue
        behind = read_by(target)
        if not behind:
            continue
        node["attached_node"] = attached = _most_downstream(nodes, ancestors, behind)
        # (dagster-dbt puts a test with one dependency on that one, and finds a node's tests among its
        # children: the test depends on the node it is attached to too)
        node["depends_on"]["nodes"] = list(dict.fromkeys([*parents, attached]))
        children = manifest.setdefault("child_map", {}).setdefault(attached, [])
        if node["unique_id"] not in children:
            children.append(node["unique_id"])
        parent_map[node["unique_id"]] = list(dict.fromkeys([*parent_map.get(node["unique_id"], []), attached]))


def _unit_tests_as_tests(manifest: dict) -> None:
    for uid, unit in manifest.get("unit_tests", {}).items():
        tested = next(iter(unit.get("depends_on", {}).get("nodes", [])), None)
        if tested is None:
            continue
        node_id = unit_test_node_id(uid)
        manifest["nodes"][node_id] = {
            **{k: unit.get(k) for k in ("name", "package_name", "path", "original_file_path", "fqn", "description")},
            "unique_id": node_id, "resource_type": "test", "attached_node": tested,
            "depends_on": {"nodes": [tested], "macros": []},
            "config": {"enabled": True, "severity": "ERROR", "meta": {}, "tags": []}, "meta": {}, "tags": [],
            "clawdata_unit_test": uid,
        }
        manifest.setdefault("child_map", {}).setdefault(tested, []).append(node_id)
        manifest.setdefault("parent_map", {})[node_id] = [tested]


def _distinct_test_names(manifest: dict) -> None:
    """A test's check is named by the test's `name` (dagster-dbt's rule), and dbt gives one name to two
    tests of a column whose arguments differ only in punctuation (`like_pattern: "%@%"` and `"%&%"`):
    one check for two results stopped the gold step. Each of those is named with its own id's hash."""
    tests = [node for node in manifest.get("nodes", {}).values() if node.get("resource_type") == "test"]
    groups: dict[tuple, list[dict]] = {}
    for node in tests:
        target = node.get("attached_node") or tuple(node.get("depends_on", {}).get("nodes", []))
        groups.setdefault((target, node["name"]), []).append(node)
    for same in (group for group in groups.values() if len(group) > 1):
        for node in same:
            node["name"] = f"{node['name']}_{node['unique_id'].rsplit('.', 1)[-1]}"


def _ancestors(manifest: Mapping[str, Any]):
    parents = manifest.get("parent_map", {})

    @cache
    def ancestors(uid: str) -> frozenset[str]:
        found = set()
        for parent in parents.get(uid, []):
            found |= {parent, *ancestors(parent)}
        return frozenset(found)

    return ancestors


def topological(manifest: Mapping[str, Any], ids) -> list[str]:
    """`ids` in dbt's build order: every node after the nodes it depends on (name order otherwise)."""
    wanted, parents, done, order = set(ids), manifest.get("parent_map", {}), set(), []

    def visit(uid: str) -> None:
        if uid in done:
            return
        done.add(uid)
        for parent in sorted(parents.get(uid, [])):
            visit(parent)
        if uid in wanted:
            order.append(uid)

    for uid in sorted(wanted):
        visit(uid)
    return order


def versions(manifest: Mapping[str, Any], project_dir: Path, project_vars: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None, flags: Mapping[str, Any] | None = None,
             cli_vars: Mapping[str, Any] | None = None,
             package_vars: Mapping[str, Mapping[str, Any]] | None = None, target: str | None = None,
             session: Mapping[str, str] | None = None) -> dict[str, str]:
    """The version of every node, test and unit test (unit tests under their test node's id).
    `flags`: dbt_project.yml's `flags:`, part of every test's version (`warn_error_options` turns a
    warning into a failure). `package_vars`: each package's own `vars:` (its dbt_project.yml), the
    defaults its nodes read where the project sets none. `target`: the profile's target, part of the
    nodes whose SQL reads `target.name`. `session`: DuckDB's session settings that are not their
    defaults (a TimeZone other than UTC), part of every node."""
    nodes, macros, sources = manifest.get("nodes", {}), manifest.get("macros", {}), manifest.get("sources", {})
    project_vars, environ = dict(project_vars or {}), os.environ if environ is None else environ
    cli_vars, package_vars = dict(cli_vars or {}), package_vars or {}

    macro_closure = _macro_closure(macros)
    materialization_overrides = _materialization_overrides(macros, macro_closure)

    def var_value(package: str, name: str):
        # dbt's order: `--vars` (CLAWDATA_DBT_VARS), the project's vars for the package, the project's
        # own, the package's own defaults
        if name in cli_vars:
            return cli_vars[name]
        scoped = project_vars.get(package)
        if isinstance(scoped, dict) and name in scoped:
            return scoped[name]
        return project_vars.get(name, (package_vars.get(package) or {}).get(name, "<unset>"))

    def var_names(package: str) -> set[str]:
        """Every var a node of `package` may read (`var(name)`, the name known only as it runs)."""
        scoped = project_vars.get(package)
        return {*cli_vars, *project_vars, *(scoped if isinstance(scoped, dict) else ()), *(package_vars.get(package) or {})}

    # What the project's on-run-start hooks make (a function, a table) every node may read: an edit to
    # one is an edit to all, as `dbt build` runs them before every node.
    on_run_start = sorted(uid for uid, n in nodes.items() if n.get("resource_type") == "operation" and "on-run-start" in uid)

    @cache
    def graph() -> str:
        """The whole project as dbt's `graph` gives it to the SQL that reads it."""
        kinds = ("nodes", "sources", "exposures", "metrics", "semantic_models", "saved_queries", "groups")
        return _sha(json.dumps({kind: {uid: {k: v for k, v in item.items() if k not in ("created_at", "root_path")}
                                       for uid, item in (manifest.get(kind) or {}).items()} for kind in kinds},
                               sort_keys=True, default=str))

    @cache
    def version(uid: str) -> str:
        node = nodes[uid]
        closure = sorted({m for top in node.get("depends_on", {}).get("macros", []) for m in macro_closure(top)})
        # (dbt lists the macros a node calls, not the materialization that builds it: the project's own
        # materialization, or its own macros replacing dbt's along the way, are part of the node)
        overrides = materialization_overrides((node.get("config") or {}).get("materialized"))
        called = [macros.get(m) or {} for m in [*closure, *overrides]]
        code = [node.get("raw_code") or "", *(m.get("macro_sql", "") for m in called)]
        own_code = [code[0], *(m.get("macro_sql", "") for m in called if m.get("package_name") not in BUILTIN_PACKAGES)]
        config = {k: v for k, v in (node.get("unrendered_config") or {}).items() if k not in _DOC_CONFIG}
        # (a generic test's arguments stay unrendered in its test_metadata: `values: "{{ var('x') }}"`)
        text = "\n".join(code) + json.dumps(config, sort_keys=True, default=str) + \
            json.dumps(node.get("test_metadata") or {}, sort_keys=True, default=str)
        names = set(_VAR.findall(text)) | (var_names(node.get("package_name")) if _VAR_BY_NAME.search(text) else set())
        used_vars = {name: var_value(node.get("package_name"), name) for name in sorted(names)}
        # (a var's value in dbt_project.yml may read the environment itself: "{{ env_var('X') }}")
        read_env = set(ENV_VAR_CALL.findall(text + json.dumps(used_vars, default=str)))
        parts = {
            "body": _body(node, project_dir),
            "config": config,
            "relation": [node.get("database"), node.get("schema"), node.get("alias")],
            "language": node.get("language"),
            "test": node.get("test_metadata"),
            "contract": _contract(node),
            "macros": [(m, _sha((macros.get(m) or {}).get("macro_sql", ""))) for m in closure],
            "vars": used_vars,
            "env": {name: _sha(environ.get(name, "")) for name in sorted(read_env)},
            # What its sources name: a source moved to another table is another input.
            "sources": [[s.get("database"), s.get("schema"), s.get("identifier"), s.get("loaded_at_field")]
                        for p in node.get("depends_on", {}).get("nodes", []) if (s := sources.get(p))],
            # Inlined into this node's SQL, so their definitions are part of it.
            "ephemeral": [version(p) for p in node.get("depends_on", {}).get("nodes", [])
                          if p in nodes and is_ephemeral(nodes[p])],
        }
        # (each of these only where it applies: a project without them keeps its versions)
        if overrides:
            parts["materialization"] = [(m, _sha((macros.get(m) or {}).get("macro_sql", ""))) for m in overrides]
        persisted = _persisted_docs(node)
        if persisted:
            parts["docs"] = persisted
        own_text = _COMMENTS.sub(" ", "\n".join(own_code))
        if _DESCRIPTION.search(own_text):  # the SQL renders its own docs
            parts["description"] = [node.get("description"), {n: c.get("description") for n, c in (node.get("columns") or {}).items()}]
        if _GRAPH.search(own_text):  # the SQL reads the project itself: any edit to it is an edit to this
            parts["graph"] = graph()
        if target and _TARGET.search(own_text):
            parts["target"] = target
        if on_run_start and node.get("resource_type") != "operation":
            parts["on_run_start"] = [version(h) for h in on_run_start]
        if session:
            parts["session"] = dict(session)
        if flags and node.get("resource_type") == "test":  # (likewise: a project without flags keeps its versions)
            parts["flags"] = flags
        unit = manifest.get("unit_tests", {}).get(node.get("clawdata_unit_test", ""))
        if unit is not None:  # a unit test: its fixtures and expectation, and the SQL of the model it tests
            parts = {"unit": {k: unit.get(k) for k in ("given", "expect", "overrides", "versions")},
                     "model": version(node["attached_node"])}
        return _sha(json.dumps(parts, sort_keys=True, default=str))[:20]

    return {uid: version(uid) for uid in nodes}


def _persisted_docs(node: Mapping[str, Any]) -> dict | None:
    """The descriptions dbt writes into the warehouse as comments (`persist_docs`): with it on, a
    description edit changes the table, as dbt's state comparison counts it."""
    persist = (node.get("config") or {}).get("persist_docs") or {}
    if not (persist.get("relation") or persist.get("columns")):
        return None
    return {"relation": node.get("description") if persist.get("relation") else None,
            "columns": {n: c.get("description") for n, c in (node.get("columns") or {}).items()}
            if persist.get("columns") else None}


def _materialization_overrides(macros: Mapping[str, Any], macro_closure):
    """By the name a node's `materialized` gives (`table`, or `stamped` for a project's own
    `materialization_stamped_duckdb`): the macros of the project and its packages that building it
    runs. That is the materialization itself when the project defines it, and the project's macros
    replacing dbt's along its way: a `duckdb__create_table_as` of its own (dispatch finds it first), or
    a macro named as one of dbt's. dbt's and dbt-duckdb's own change with their versions alone."""
    by_name: dict[str, list[str]] = {}
    materializations: dict[str, list[str]] = {}
    for uid, macro in macros.items():
        name = macro.get("name", "")
        by_name.setdefault(name, []).append(uid)
        for adapter in ("_duckdb", "_default"):
            if name.startswith("materialization_") and name.endswith(adapter):
                materializations.setdefault(name[len("materialization_"):-len(adapter)], []).append(uid)

    @cache
    def overrides(materialized: str | None) -> tuple[str, ...]:
        found, pending = set(), list(materializations.get(materialized or "", []))
        while pending:
            uid = pending.pop()
            if uid in found or uid not in macros:
                continue
            found.add(uid)
            pending += [*macro_closure(uid), *by_name.get(macros[uid].get("name", ""), [])]
        return tuple(sorted(u for u in found if macros[u].get("package_name") not in BUILTIN_PACKAGES))

    return overrides


_DISPATCH = re.compile(r"""adapter\.dispatch\(\s*(?:macro_name\s*=\s*)?['"](\w+)['"]""")


def _macro_closure(macros: Mapping[str, Any], dispatched: bool = True):
    # A macro that dispatches (`adapter.dispatch('date_trunc', 'dbt')`) runs whichever `<adapter>__NAME`
    # the search order finds first, a project's own override included; dbt lists only the one its parse
    # met. For versions, every implementation of the name counts: an edit to any of them rebuilds the
    # callers. (`dispatched=False`: the macros dbt lists alone, as `volatile()` reads them.)
    implementations: dict[str, list[str]] = {}
    for uid, macro in macros.items():
        prefix, sep, name = (macro.get("name") or "").partition("__")
        if sep and prefix and name:
            implementations.setdefault(name, []).append(uid)

    def calls(uid: str) -> list[str]:
        macro = macros.get(uid) or {}
        names = sorted(set(_DISPATCH.findall(macro.get("macro_sql") or ""))) if dispatched else []
        return [*macro.get("depends_on", {}).get("macros", []), *(impl for n in names for impl in implementations.get(n, ()))]

    @cache
    def closure(uid: str) -> frozenset[str]:
        """Every macro `uid` reaches. Macros may call each other in a cycle (dbt-duckdb's
        duckdb__datediff and dbt's datediff dispatch to each other): a walk with one visited set."""
        found, pending = {uid}, [uid]
        while pending:
            for dep in calls(pending.pop()):
                if dep not in found:
                    found.add(dep)
                    pending.append(dep)
        return frozenset(found)

    return closure


def volatile(manifest: Mapping[str, Any]) -> frozenset[str]:
    """The nodes and tests whose SQL (with the macros it calls and the ephemeral models inlined into
    it) reads what changes by itself: `current_date`, `now()`, `random()`, `read_csv(...)`, or that
    read a source dbt-duckdb reads from a file (`external_location`), and every Python model. A `dbt build` recomputes them
    every time, so clawdata never keeps one (a model using `current_date` would otherwise stay as it
    was on the day it was built). A macro's every branch counts, taken or not: a node's
    `meta: {clawdata: {volatile: false}}` (in its config or dbt_project.yml) says otherwise, and
    `true` marks what the SQL does not show (a table another tool rewrites)."""
    nodes, macros, sources = manifest.get("nodes", {}), manifest.get("macros", {}), manifest.get("sources", {})
    macro_closure = _macro_closure(macros, dispatched=False)

    @cache
    def reads_clock(sql: str) -> bool:
        return bool(_VOLATILE.search(_COMMENTS.sub(" ", sql)))

    # A table of the project read by its name (`from main.orders`, not `ref('orders')`): dbt knows no
    # dependency, so neither does a version; such a node is read afresh, as what it reads may have changed.
    tables = {f"{n.get('schema')}.{n.get('alias') or n.get('name')}".lower() for n in nodes.values()
              if n.get("resource_type") in REFABLE}
    named = re.compile(r"(?<![\w.\"])(" + "|".join(re.escape(t) for t in sorted(tables)) + r")(?![\w\"])", re.IGNORECASE) \
        if tables else None

    def reads_by_name(uid: str) -> bool:
        node = nodes[uid]
        own = f"{node.get('schema')}.{node.get('alias') or node.get('name')}".lower()
        code = _COMMENTS.sub(" ", node.get("raw_code") or "")
        return node.get("resource_type") in ("model", "snapshot") and (bool(_RELATION_AT_RUN_TIME.search(code)) or (
            bool(named) and any(m.group(1).lower() != own for m in named.finditer(code))))

    def external(source: Mapping[str, Any]) -> bool:
        return any((source.get(where) or {}).get("external_location") for where in ("meta", "config"))

    @cache
    def reads_afresh(uid: str) -> bool:
        node = nodes[uid]
        said = (((node.get("config") or {}).get("meta") or node.get("meta") or {}).get("clawdata") or {}).get(VOLATILE_META)
        if isinstance(said, bool):
            return said
        closure = {m for top in node.get("depends_on", {}).get("macros", []) for m in macro_closure(top)}
        parents = node.get("depends_on", {}).get("nodes", [])
        # A Python model reads what its code pleases (a file through open(), an API, the clock) in
        # ways no pattern can list: built every time, as dbt does, unless its meta says otherwise.
        return (node.get("language") == "python" or reads_clock(node.get("raw_code") or "") or reads_by_name(uid)
                or any(reads_clock((macros.get(m) or {}).get("macro_sql", "")) for m in closure)
                or any(external(sources[p]) for p in parents if p in sources)
                or any(reads_afresh(p) for p in parents if p in nodes and is_ephemeral(nodes[p])))

    return frozenset(uid for uid in nodes if reads_afresh(uid))


def _body(node: Mapping[str, Any], project_dir: Path) -> str:
    checksum = node.get("checksum") or {}
    if node.get("resource_type") == "seed" and checksum.get("name") == "path":
        # dbt checksums a seed over 1 MiB by its path only; its content decides here.
        path = project_dir / node.get("original_file_path", "")
        return _sha(path.read_bytes()) if path.is_file() else checksum.get("checksum", "")
    if node.get("resource_type") == "seed":
        return checksum.get("checksum", "")
    return node.get("raw_code") or ""


def _contract(node: Mapping[str, Any]):
    contract = (node.get("config") or {}).get("contract") or node.get("contract") or {}
    if not contract.get("enforced"):
        return None
    columns = sorted((c.get("name"), c.get("data_type"), json.dumps(c.get("constraints"), default=str))
                     for c in (node.get("columns") or {}).values())
    return [columns, node.get("constraints")]


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode()).hexdigest()


CHANGE_LOG_MACRO = "clawdata_changed"  # dbt/macros/clawdata_changes.sql: reads a silver change log


def reads_change_logs(manifest: Mapping[str, Any], uid: str) -> bool:
    """Whether a node reads clawdata's silver change logs (through the macros of clawdata_changes.sql,
    which a project copies): it must start over when such a log restarted."""
    macros, seen = manifest.get("macros", {}), set()
    frontier = list(manifest["nodes"][uid].get("depends_on", {}).get("macros", []))
    while frontier:
        macro = frontier.pop()
        if macro in seen:
            continue
        seen.add(macro)
        if macro.split(".")[-1] == CHANGE_LOG_MACRO:
            return True
        frontier += (macros.get(macro) or {}).get("depends_on", {}).get("macros", [])
    return False
