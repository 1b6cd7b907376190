"""A sensor that notices new or changed delivered files (of every declared source) and ingests what they feed.

The cursor maps every watched file to its size and modification time, counts the runs the
sensor requested, and lists the inbox's files no declared source names (each is said once). The
sources whose files changed (a file new, changed or taken out) get one run: their bronze assets
and everything downstream, gold included. On its first tick the sensor records what is there, and
ingests the sources never materialized (the tables of a database source too), so a fresh
deployment fills itself, and those with a file put in place since their last materialization (a
delivery made before the sensor first looked); the ledger then takes in only what it lacks. After a
restore (cli/reconcile.py records what the restored warehouse holds), it asks once for everything,
built again from the restored files.
"""

import hashlib
import json
import os
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
# no public names; tests/test_private_apis.py
from dagster._core.definitions.data_version import CODE_VERSION_TAG, DATA_VERSION_TAG, get_input_data_version_tag
from dagster._core.storage.tags import PARENT_RUN_ID_TAG, WILL_RETRY_TAG

from clawdata import settings
from clawdata.gold import project
from clawdata.listing import few
from clawdata.sources.declarations import specs
from clawdata.sources.spec import FileSourceSpec as Source
from clawdata.warehouse.ledger import file_fingerprint

INTERVAL_SECONDS = int(os.environ.get("CLAWDATA_SENSOR_INTERVAL_SECONDS", "30"))


def _fingerprints(source: Source, declared: list) -> dict[str, str]:
    """Each file's state, as bronze's ledger fingerprints it."""
    return {str(path): file_fingerprint(path) for path in source.input_files(declared) if path.is_file()}


def _restored_from(latest: dict) -> str | None:
    """The backup a restore put back, while an asset's latest materialization is the restore's record
    (cli/reconcile.py) rather than a build."""
    return next((backup for event in latest.values() if (backup := _restore_record(event))), None)


def _restore_record(event) -> str | None:
    """The backup named by a materialization that is a restore's record, not a build."""
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    return str(metadata[settings.RESTORED_FROM].value) if settings.RESTORED_FROM in metadata else None


CODE_LOCATION_STALE = ("the dbt project changed since this code location loaded it: reload the code location (the "
                       "UI's Deployment page, Reload; or restart `clawdata dagster dev`). Deliveries wait in the inbox till then")

# Why an asset is out of date: what the sensor's tick and its run's trigger say.
NEVER_BUILT, CODE_CHANGED, READS_CHANGED = "never built", "code changed since built", "what it reads changed since built"
FIXED = "code changed since its build failed"
TEST_CHANGED = "tests added or edited since they last ran"
TESTS_TAG = "clawdata/tests_asked"  # a run's tag: the key of the tests the sensor asked for in it


def _out_of_date(graph, latest: dict) -> dict[dg.AssetKey, str]:
    """The assets never built, built by other code than they have now (a new image, an edited model,
    macro or seed), or built from other data than what they read holds now (Dagster's own rule: a
    parent's data version is not the one recorded at the build; a subset run, `materialize slv_x
    --full-refresh`, left gold and the read path behind it), each with why. A dbt project's seed and
    the models reading only it are downstream of no delivery, and an edit reaches no table until
    something builds it. A file source declared before its first file is never built too: its
    tables are built empty, and what reads them builds."""
    found = {}
    for key in sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
        event = latest.get(key)
        if event is None:
            found[key] = NEVER_BUILT
            continue
        tags = _tags(event)
        code = graph.get(key).code_version  # None: Dagster versions the asset by run (the replica)
        if _read_changed(graph, key, tags, latest):
            found[key] = READS_CHANGED
        elif code is not None and tags.get(CODE_VERSION_TAG) not in (None, code):
            found[key] = CODE_CHANGED
    return found


def _failures(instance: dg.DagsterInstance, graph, latest: dict) -> tuple[dict[dg.AssetKey, str], dict[dg.AssetKey, str]]:
    """From the newest failed build of each asset since its last materialization (the gold step tags
    its run with the code that failed):
    - those whose code differs from that now (FIXED): an edit reverted to the last good code is no
      change since built, and left `status` saying the build failed until a run of everything;
    - those that failed at the code they have now, on what they read now (nothing it reads was
      built after that run), each with the run: asked for again, they fail again. A delivery's run
      that failed on a model changed what the model reads, and the next tick asked for it a second
      time, at the same code and on the same data."""
    fixed, failing, seen = {}, {}, set()
    since = datetime.now(timezone.utc) - timedelta(days=7)
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], created_after=since), limit=20):
        failed = json.loads(record.dagster_run.tags.get(settings.FAILED_CODE_TAG) or "{}")
        ended = record.end_time or record.create_timestamp.timestamp()
        for name, version in failed.items():
            key = dg.AssetKey.from_user_string(name)
            if key in seen or not graph.has(key):
                continue
            seen.add(key)  # its newest failure decides
            event = latest.get(key)
            if event is not None and event.timestamp >= ended:
                continue  # built since
            code = graph.get(key).code_version
            if code not in (None, version):
                fixed[key] = FIXED
            elif code is not None and all(_read_by(latest.get(p), record) for p in graph.get(key).parent_keys):
                failing[key] = record.dagster_run.run_id
    return fixed, failing


def _read_by(event, record) -> bool:
    """Whether a failed run read this parent's latest materialization: built in that run, or before
    it started (one built by another run while it went may have come after the model's step)."""
    started = record.start_time or record.create_timestamp.timestamp()
    return event is None or event.run_id == record.dagster_run.run_id or event.timestamp <= started


def _tags(event) -> dict:
    """A latest materialization's tags (none on a restore's record, reported outside a run)."""
    return (event.asset_materialization.tags or {}) if event is not None and event.asset_materialization else {}


def _read_changed(graph, key: dg.AssetKey, tags: dict, latest: dict) -> bool:
    """Whether a parent of `key` has another data version now than the one its latest build read."""
    return any((now := _tags(latest.get(parent)).get(DATA_VERSION_TAG)) is not None
               and tags.get(get_input_data_version_tag(parent)) != now for parent in graph.get(key).parent_keys)


def _files_read(event) -> list[str]:
    """The files a file source's bronze build read (its `source_files`); none for a restore's record."""
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    files = metadata.get("source_files")
    return [str(p) for p in files.value] if files is not None and isinstance(files.value, list) else []


def _gone_said(cursor: str | None) -> set[str]:
    """The files bronze holds that were said taken out by an earlier tick (`_files_read`, not listed)."""
    value = json.loads(cursor) if cursor else {}
    return set(value.get("gone", [])) if isinstance(value, dict) else set()


def _put_in_place(path: str) -> float:
    try:
        stat = os.stat(path)
    except OSError:  # taken out since it was listed: the next tick sees it gone
        return 0.0
    return max(stat.st_mtime, stat.st_ctime)


def _taken_in_by(instance: dg.DagsterInstance, last, paths: list[str]) -> set[str]:
    """The files put in place before the run of the source's latest materialization started: it took
    them in (a `materialize` between two ticks), and a tick that asked for them again said them new."""
    if last is None or not paths:
        return set()
    run = instance.get_run_record_by_id(last.run_id)
    started = run.start_time if run is not None and run.start_time else None
    return {p for p in paths if started is not None and _put_in_place(p) < started}


def _why_first(last, files: dict[str, str]) -> str | None:
    """Why the first tick ingests a file source (`last`: its latest materialization): never
    materialized, or files put in place since (written, copied or moved in: a rename sets the inode's
    change time too)."""
    if last is None:
        return "never materialized"
    since = [os.path.basename(p) for p in files if _put_in_place(p) > last.timestamp]
    return f"delivered before the sensor's first tick: {', '.join(since[:_SHOWN])}" if since else None


@dg.sensor(
    name="inbox_sensor",
    job_name="materialize_all",
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Ingests new or changed files of the declared sources, in the inbox and sample folders.",
)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    if project.changed_since_loaded():  # the cursor stays: what is delivered meanwhile is taken in after the reload
        return dg.SensorResult(skip_reason=CODE_LOCATION_STALE, cursor=context.cursor)
    previous, requested, said, known_tests, checks_seen = _read_cursor(context.cursor)
    gone_said, gone_held = _gone_said(context.cursor), []
    current, changed = {}, []
    declared = specs()
    graph = context.repository_def.asset_graph
    latest = context.instance.get_latest_materialization_events(graph.materializable_asset_keys)
    for source in declared:
        last = latest.get(dg.AssetKey(source.raw_table))
        if not isinstance(source, Source):  # a database's table: later loads come from runs (the schedule)
            if previous is None and last is None:
                changed.append((source, {}, "never materialized"))
            continue
        files = _fingerprints(source, declared)
        current.update(files)
        if previous is None:
            if files and (why := _why_first(last, files)):
                changed.append((source, files, why))
            continue
        diff = sorted(p for p in files if previous.get(p) != files[p])
        taken = _taken_in_by(context.instance, last, diff)
        diff = [p for p in diff if p not in taken]
        # A file taken out takes its rows with it: that is a change too. So is one bronze holds that this
        # sensor never listed (a `materialize` took it in between two ticks): its latest build says
        # which files it read. Said once (a run that fails on it is not asked for at every tick).
        gone = sorted(p for p in previous if p not in files and not os.path.exists(p) and source.claims(Path(p), declared))
        held = [p for p in _files_read(last) if p not in previous and not os.path.exists(p)]
        gone_held += held
        gone = sorted({*gone, *(p for p in held if p not in gone_said)})
        if diff or gone:
            changed.append((source, files | dict.fromkeys(gone, "removed"), ", ".join([*(os.path.basename(p) for p in diff),
                                                       *(f"{os.path.basename(p)} removed" for p in gone)])))

    # A delivery no declared source names (a misspelt name, a source not declared yet) is said once.
    unclaimed = _unclaimed(current)
    new_unclaimed = sorted(set(unclaimed) - set(said))
    named = few(new_unclaimed, _SHOWN)
    left_alone = f"named by no declared source, left alone: {named}" if new_unclaimed else ""
    if any(name.endswith("/") for name in new_unclaimed):
        left_alone += " (a folder is read where a source's `files: inbox:` patterns name it)"
    run_requests = []
    backup, rebuilt = _restored_from(latest), ""
    if backup and (earlier := _requested(context, f"restored:{backup}")):
        # Asked for once already: if that run failed, some assets still hold the restore's record, and
        # asking again under the same key is dropped by Dagster. Deliveries and edits go on as usual.
        rebuilt = (f"the rebuild after the restore of backup {backup} was asked for once (run {earlier.run_id[:8]}: "
                   f"{earlier.status.value}); what it did not build is built by the next delivery or `materialize`")
        backup = None
    # What a run not finished yet will build is not out of date: asked for again, it made a second run
    # (after a restore, on a fresh stack) that reused everything, on a 2-core host.
    fixed, failing = _failures(context.instance, graph, latest) if not backup else ({}, {})
    stale = {**_out_of_date(graph, latest), **fixed} if not backup else {}  # (its fix: the likelier news)
    failing = {k: run_id for k, run_id in failing.items() if k in stale}  # (it would be asked for)
    # nor what reads it, as dbt build skips it (the replica would refuse to publish a half-way warehouse)
    held = dg.AssetSelection.assets(*failing).downstream().resolve(graph) if failing else set()
    behind_failing = {k: why for k, why in stale.items() if k in held and k not in failing}
    stale = {k: why for k, why in stale.items() if k not in held}
    tests, checks_seen = _tests_out_of_date(context.instance, graph, known_tests, checks_seen) if not backup else ({}, checks_seen)
    if stale or tests:  # (the runs are read only then: most ticks find nothing out of date)
        coming = _in_flight(context.instance, graph)
        stale = {k: why for k, why in stale.items() if k not in coming}
        # A test on what is out of date, or what a run not finished builds, runs with that build.
        waiting = set(stale) | coming | held  # (held: what a failing model holds back)
        tests = {k: v for k, v in tests.items() if not graph.get(k).parent_entity_keys & waiting}
    # What is out of date alone is asked for once per code and data: a model that fails is not retried
    # every tick, a fixed one is (Dagster would drop the request; said here, the tick says why). A
    # test, once per its version and the one it last ran at (edited back, it runs again); apart, so an
    # edited test does not ask again for a model that fails.
    code_key = "code:" + hashlib.sha256(json.dumps([[k.to_user_string(), graph.get(k).code_version, _read_versions(graph, k, latest)]
                                                    for k in stale]).encode()).hexdigest()[:16]
    tests_key = "tests:" + hashlib.sha256(json.dumps(sorted([k.to_user_string(), *v] for k, v in tests.items())).encode()).hexdigest()[:16]
    asked = bool(stale) and not changed and _requested(context, code_key) is not None
    tests_asked = bool(tests) and _requested(context, tests_key, TESTS_TAG) is not None
    if backup:
        # A restore recorded what the warehouse holds, bronze not built: everything is built again from
        # the restored files, once (the run key), whatever else this tick saw. A file source with no
        # file (declared after the backup: its files were kept aside) is built empty, as before its
        # first delivery, and so is what reads it.
        run_requests.append(dg.RunRequest(
            run_key=f"restored:{backup}", asset_selection=sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string()),
            tags={"clawdata/trigger": textwrap.shorten(f"rebuild after the restore of backup {backup}"
                                                       + (f"; {left_alone}" if left_alone else ""), _TAG_LENGTH, placeholder=" ...")}))
        context.log.info(f"rebuilding every layer after the restore of backup {backup}")
    elif changed or (stale and not asked) or (tests and not tests_asked):
        # One run for every changed source: gold models join several sources, so separate runs
        # could build a model before a silver table it reads exists (on a fresh warehouse). What is
        # out of date joins it (the gold step rebuilds only what changed).
        stale = stale if changed or not asked else {}  # (asked for once: a test alone is asked for now)
        tests = tests if not tests_asked else {}
        delivered = dg.AssetSelection.assets(*(source.raw_table for source, _, _ in changed)).downstream().resolve(graph)
        # (a unit test runs with its model, which dbt builds again: its data version stays)
        units = {k.asset_key for k in tests if (graph.get(k).metadata or {}).get(settings.UNIT_TEST)}
        keys = delivered | dg.AssetSelection.assets(*stale).downstream().resolve(graph) | units
        layer = {"bronze": 0, "silver": 1, "gold": 2}
        state = {p: f for _, files, _ in changed for p, f in files.items()}
        beyond_deliveries = {k: why for k, why in stale.items() if k not in delivered}
        if beyond_deliveries:
            changed.append((None, {}, _said_of(beyond_deliveries)))
        if tests:
            changed.append((None, {}, f"{TEST_CHANGED}: {_named(tests)}"))
        if rebuilt:
            changed.append((None, {}, rebuilt))
        run_requests.append(
            dg.RunRequest(
                # A tick evaluated again from the same cursor (a daemon restarted mid-tick) asks for
                # the same run, which Dagster then skips; a file taken out and put back is a new one.
                run_key=hashlib.sha256(json.dumps([state, requested], sort_keys=True).encode()).hexdigest()[:16]
                if state else code_key if stale else tests_key,
                asset_selection=sorted(keys, key=lambda k: (layer.get(graph.get(k).group_name, 9), k.to_user_string())),
                asset_check_keys=sorted(set(_checks_reading(graph, keys)) | set(tests), key=lambda k: k.to_user_string()),
                # Why, shown by `sensor tick` and on the run in the UI, after what was left alone (said
                # once: first, so that a long why cut at the tag's length never cuts it).
                tags={"clawdata/trigger": textwrap.shorten("; ".join(
                    [*([left_alone] if left_alone else []),
                     *(f"{source.name}: {why}" if source else why for source, _, why in changed)]),
                    _TAG_LENGTH, placeholder=" ..."), **({TESTS_TAG: tests_key} if tests else {})},
            )
        )
    for source, _, why in changed:  # kept with the tick (compute logs): why it ran, in the UI
        context.log.info(f"{source.name}: {why}" if source else why)
    if new_unclaimed:
        context.log.warning(f"in the inbox, {left_alone}")
    skip = None if run_requests else ("first tick: recorded the files present" if previous is None else "no new or changed files")
    databases = [source.name for source in declared if not isinstance(source, Source)]
    if skip and databases:  # (a change in a database's table went unsaid: this sensor looks at files)
        skip += (f" (database source{'s' if len(databases) > 1 else ''} {few(databases, 3)} "
                 f"{'are' if len(databases) > 1 else 'is'} read by the daily_refresh schedule and by `materialize`)")
    if skip and asked:
        skip += (f"; out of date, asked for once at this code and data ({_said_of(stale)}): "
                 "its run did not build it; an edit, a delivery, or `materialize`, does")
    if skip and tests_asked:
        skip += (f"; {TEST_CHANGED}, asked for once at these versions ({_named(tests)}): its run did not run "
                 "them; an edit, or `materialize` of their assets, does")
    if skip and failing:
        runs = few(dict.fromkeys(run_id[:8] for run_id in failing.values()), 3)
        skip += (f"; failed at this code and on this data, not asked for again: {few(sorted(k.to_user_string() for k in failing), _SHOWN)} "
                 f"(run {runs}), nor what reads it" + (f" ({_said_of(behind_failing)})" if behind_failing else "")
                 + "; an edit of it, a delivery, or `materialize`, builds it")
    if skip and rebuilt:
        skip += f"; {rebuilt}"
    if skip and new_unclaimed:
        skip += f"; {left_alone}"
    cursor = {"files": current, "requested": requested + len(run_requests), "unclaimed": unclaimed,
              **({"gone": sorted(gone_held)} if gone_held else {}),
              "tests": "".join(sorted(_digest(k) for k in graph.asset_check_keys)),
              **({"checks_seen": checks_seen} if checks_seen is not None else {})}
    return dg.SensorResult(run_requests=run_requests, skip_reason=skip, cursor=json.dumps(cursor, sort_keys=True))


def _checks_reading(graph, keys: set[dg.AssetKey]) -> list[dg.AssetCheckKey]:
    """The checks of `keys`, and those on other assets that read one of them (a relationships test on
    slv_orders reads slv_products: a delivery of products that mends it runs it again, as `dbt build`
    would, where the check's own asset is not rebuilt)."""
    return sorted((k for k in graph.asset_check_keys if graph.get(k).parent_entity_keys & keys), key=lambda k: k.to_user_string())


def _tests_out_of_date(instance: dg.DagsterInstance, graph, known: set[str] | None,
                       seen_up_to: int | None) -> tuple[dict[dg.AssetCheckKey, tuple], int]:
    """The dbt tests added since the previous tick (not in `known`, the digests it saw: new, or back), or last run at
    another version than they have now (their SQL, arguments or config edited), each with its version
    and the one it last ran at; and the newest check result's id, the previous tick's `seen_up_to`:
    `dbt build` would run them, and the edit builds no table, so nothing else asks. A test seen before
    and never run (a restore's, one whose model failed, whose run is still going) waits for its model's
    build, as a result from before versions were recorded waits for the test's next edit."""
    versions = {k: str(getattr(v, "value", v)) for k in graph.asset_check_keys
                if (v := (graph.get(k).metadata or {}).get(settings.TEST_VERSION))}
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(versions))
    found = {}
    for key, version in versions.items():
        record = latest.get(key)
        evaluation = record.event.dagster_event.event_specific_data if record and record.event and record.event.dagster_event else None
        ran = evaluation.metadata.get(settings.TEST_VERSION) if isinstance(evaluation, dg.AssetCheckEvaluation) else None
        # added: new, or back (an argument edited back renames it to a check whose result is older
        # than its table)
        # (one that ran at its version since the previous tick, by a run between two ticks, is not: a
        # `materialize` ran it, and the tick asked for it again, naming it added)
        ran_since = seen_up_to is not None and record is not None and record.id > seen_up_to
        added = known is not None and _digest(key) not in known and not (ran_since and ran is not None and str(ran.value) == version)
        if added or (ran is not None and str(ran.value) != version):
            found[key] = (version, str(ran.value) if ran is not None else None)
    return found, max([seen_up_to or 0, *(record.id for record in latest.values() if record is not None)])


def _digest(key: dg.AssetCheckKey) -> str:
    """A check's name in the cursor, short: a project's thousand tests take 8 KB of it."""
    return hashlib.sha256(key.to_user_string().encode()).hexdigest()[:_DIGEST]


_DIGEST = 8  # hex digits: two names of a thousand share one once in four million projects


def _named(checks) -> str:
    return few((k.name for k in sorted(checks, key=lambda k: k.to_user_string())), _SHOWN)


def _in_flight(instance: dg.DagsterInstance, graph) -> set[dg.AssetKey]:
    """The assets of the runs queued or going (a run of everything: all of them), or failed and about
    to be retried, created in the last six hours: one older still marked going is taken for dead (its
    process gone, not yet failed by run monitoring), and asks for nothing to wait."""
    statuses = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED]
    since = datetime.now(timezone.utc) - timedelta(hours=6)
    runs = list(instance.get_runs(dg.RunsFilter(statuses=statuses, created_after=since), limit=50))
    # A run that failed and that Dagster retries, its retry not created yet (a stack brought down
    # mid-run, then up: run monitoring fails it, and the daemon makes the retry seconds later).
    for failed in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], created_after=since,
                                                  tags={WILL_RETRY_TAG: "true"}), limit=10):
        if not instance.get_runs(dg.RunsFilter(tags={PARENT_RUN_ID_TAG: failed.run_id}), limit=1):
            runs.append(failed)
    keys: set[dg.AssetKey] = set()
    for run in runs:
        keys |= set(run.asset_selection) if run.asset_selection is not None else set(graph.materializable_asset_keys)
    return keys


def _requested(context: dg.SensorEvaluationContext, key: str, tag: str = "dagster/run_key"):
    """This sensor's run for `key` (its run key, or the key of the tests it asked for), if it asked for one."""
    runs = context.instance.get_runs(dg.RunsFilter(tags={"dagster/sensor_name": context.sensor_name, tag: key}), limit=1)
    return runs[0] if runs else None


def _read_versions(graph, key: dg.AssetKey, latest: dict) -> list:
    """What `key` reads, as it is now: a run asked for out-of-date assets is asked once per state."""
    return sorted([p.to_user_string(), _tags(latest[p]).get(DATA_VERSION_TAG)] for p in graph.get(key).parent_keys if latest.get(p))


def _said_of(stale: dict[dg.AssetKey, str]) -> str:
    """The out-of-date assets, by why (never built; code changed; what it reads changed)."""
    parts = []
    for why in (NEVER_BUILT, CODE_CHANGED, READS_CHANGED, FIXED):
        keys = [k.to_user_string() for k, reason in stale.items() if reason == why]
        if keys:
            parts.append(f"{why}: {', '.join(keys[:_SHOWN])}")
    return "; ".join(parts)


_SHOWN, _KEPT = 10, 1000  # unclaimed files named in a notice, and remembered in the cursor
_TAG_LENGTH = 300  # the trigger tag, cut at a word


def _unclaimed(claimed: dict[str, str]) -> list[str]:
    """The files at the inbox's top (where deliveries land) that no declared source takes in, and its
    folders (`2026-12-01/`) of which no source takes a file: a source reads a folder only where its
    `files: inbox:` patterns name it. A folder is named, not its files: it may be an archive."""
    inbox = settings.inbox_dir()
    if not inbox.is_dir():
        return []
    found = [p for p in inbox.iterdir() if not p.name.startswith(".")]
    taken = {Path(c).relative_to(inbox).parts[0] for c in claimed if Path(c).parent != inbox and Path(c).is_relative_to(inbox)}
    return sorted([p.name for p in found if p.is_file() and str(p) not in claimed]
                  + [f"{p.name}/" for p in found if p.is_dir() and p.name not in taken])[:_KEPT]


def _read_cursor(cursor: str | None) -> tuple[dict | None, int, list[str], set[str] | None, int | None]:
    """(file -> state, runs requested so far, unclaimed files said, digests of the checks seen, the
    newest check result's id then); a cursor of an older clawdata is the files alone, or has no
    checks (none is taken for added)."""
    if not cursor:
        return None, 0, [], None, None
    value = json.loads(cursor)
    if "files" not in value:
        return value, 0, [], None, None
    tests = {value["tests"][i:i + _DIGEST] for i in range(0, len(value["tests"]), _DIGEST)} if "tests" in value else None
    return value["files"], int(value.get("requested", 0)), value.get("unclaimed", []), tests, value.get("checks_seen")
