"""What a user sees when things go wrong on the laptop: a bad delivery reads in a few lines (no
stack trace), usage errors answer before the definitions load, a failed run posts one alert to the
webhook, old runs are purged with their logs."""

import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.conftest import make_project, run_cli
from tests.status_readers import same_status

HEADER = "customer_id,first_name,last_name,email,phone,city,country,signup_date,updated_at"
ROW = "9001,Ada,Lovelace,ada@example.com,+44 20 1234,London,GB,2025-01-02,2026-11-01 10:00:00"
BAD = f'{HEADER}\n{ROW}\n9002,"Bob,Smith,b@x.org,,Paris,FR,2025-01-02,2026-11-01 10:00:00\n'  # line 3: open quote


class Webhook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/secret-token-123"
    server.shutdown()


@pytest.fixture(scope="module")
def broken(tmp_path_factory, webhook):
    """A project whose inbox holds a malformed customers file, and the alert sensor's cursor set
    before any run (a run-failure sensor reports runs that fail after its first tick)."""
    paths = make_project(tmp_path_factory.mktemp("broken"))
    paths["env"]["CLAWDATA_ALERT_WEBHOOK_URL"] = webhook
    first = run_cli(paths["env"], "dagster", "sensor", "tick", "run_failure_alert")
    assert first.returncode == 0, first.stdout + first.stderr
    (paths["inbox"] / "customers_2026-12-01.csv").write_text(BAD)
    paths["result"] = run_cli(paths["env"], "dagster", "materialize", "--all")
    return paths


def test_bad_csv_reads_in_a_few_lines(broken):
    result = broken["result"]
    out = result.stdout + result.stderr
    print(out)
    assert result.returncode == 1
    assert "customers_2026-12-01.csv line 3" in out and "unterminated quote" in out
    assert "Traceback" not in out and 'File "' not in out and "dagster._core" not in out
    failure_lines = [l for l in out.splitlines() if "✗" in l]
    assert failure_lines == [l for l in failure_lines if l.lstrip().startswith("✗ raw_customers")], failure_lines
    assert len(out.splitlines()) < 30  # (three runs: the failed one, what does not read it, the publish)
    assert "clawdata dagster logs" in out  # where the whole trace is
    # and the read path is published with what did build, as the stack's replica_sensor does after a failure
    assert "publishing what did build to the read path (`clawdata sql`), as a deployment's replica_sensor does:" in out
    # what Dagster did not run behind it (silver, the whole gold step, the read path) is said and counted
    behind = next(l for l in out.splitlines() if "not built, upstream failed (raw_customers):" in l)
    assert all(a in behind for a in ("slv_customers", "dim_customers", "warehouse_replica")), behind
    assert "not built; checks" in out and "1 failed," in out, out
    summary = next(l for l in out.splitlines() if l.startswith("FAILURE:"))
    assert re.search(r"0 failed, [1-9][0-9]* skipped; ", summary), summary  # the checks that never ran


def test_what_does_not_read_the_failure_is_built_after_it_as_dbt_build_would(broken):
    """Dagster skips every step behind a failed one, and the dbt models are one step: a bad customers
    file left every model unbuilt, the orders-only ones and their tests too, where `dbt build` builds
    them. `materialize` builds them in a second run, with the checks the failure left unrun that read
    nothing it failed to build; the command still fails."""
    out = broken["result"].stdout
    assert broken["result"].returncode == 1
    first, after = out.split("building what does not read raw_customers, as `dbt build` would:")
    assert "✓ fct_daily_revenue" in after and "SUCCESS:" in after, out
    said = broken["result"].stderr  # the command's result is the failed run's, and says what followed
    assert re.search(r"run \w{8} failed \(see its failures above\); run \w{8}, of what does not read them, ended SUCCESS", said), said
    assert "dim_customers" not in after and "slv_customers" not in after, out  # they read the failure
    shown = run_cli(broken["env"], "dagster", "status")
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 3}
    assert "fresh" in rows["fct_daily_revenue"] and "14/14 passed" in rows["fct_category_revenue"], shown.stdout
    # slv_orders' dbt tests ran, but its relationships test, which reads slv_customers (never built)
    assert "15/16 passed, 1 skipped" in rows["slv_orders"], shown.stdout
    runs = [line for line in shown.stdout.split("Recent runs")[1].splitlines() if "│" in line and "SUCCESS" in line]
    assert len(runs) == 2 and all("__ASSET_JOB" in r for r in runs), shown.stdout  # that run, then the read path's


def test_what_stays_behind_a_failure_is_what_reads_it_even_through_others():
    from clawdata.cli.materialize import unreached

    parents = {"raw_a": [], "raw_b": [], "slv_a": ["raw_a"], "slv_b": ["raw_b"], "m_a": ["slv_a"], "m_b": ["slv_b"],
               "m_ab": ["m_a", "slv_b"], "replica": ["m_a", "m_b", "m_ab"], "slv_b:rel_to_a": ["slv_b", "slv_a"],
               "slv_b:not_null": ["slv_b"]}
    behind = ["slv_a", "m_a", "m_b", "m_ab", "replica", "slv_b:rel_to_a", "slv_b:not_null"]
    assert unreached(parents, ["raw_a"], behind) == ["m_b", "slv_b:not_null"]
    assert unreached(parents, ["m_b"], behind) == ["slv_a", "m_a", "m_ab", "slv_b:rel_to_a", "slv_b:not_null"]
    assert unreached(parents, ["raw_a"], ["m_new"]) == []  # not in the graph read: not guessed to be unreached


def test_a_local_and_a_remote_target_read_the_same_graph(broken, monkeypatch):
    """The follow-up's graph, from the loaded definitions (local) and from GraphQL (a deployment)."""
    from clawdata.cli.target import LocalTarget, Target

    # (every setting of the project, its webhook too: the load stores the definitions' snapshot under
    # their fingerprint, and another one would send a later test's command to load them again)
    for key in (k for k in broken["env"] if k.startswith("CLAWDATA_") or k == "DAGSTER_HOME"):
        monkeypatch.setenv(key, broken["env"][key])
    with LocalTarget() as target:
        local = target.asset_parents()
        assert {k: sorted(v) for k, v in local.items()} == {k: sorted(v) for k, v in Target.asset_parents(target).items()}
    assert "slv_customers" in local["dim_customers"] and "slv_customers" in next(
        v for k, v in local.items() if k.startswith("slv_orders:") and "relationships" in k and "customer" in k)


def test_logs_show_the_trace_and_the_steps_stdout(broken):
    run_id = next(w for w in broken["result"].stdout.split() if len(w) == 36)
    result = run_cli(broken["env"], "dagster", "logs", run_id[:8], "raw_customers")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unterminated quote" in result.stdout and "Traceback" not in result.stdout
    assert 'File "' in result.stdout  # the stack trace is kept for whoever asks
    assert "raw_orders: 2,467 rows, published" in result.stdout  # a Python asset's print, captured
    # The whole run: one stack trace per error (the run's failure repeats its step's), planned checks in one line.
    whole = run_cli(broken["env"], "dagster", "logs", run_id[:8]).stdout
    events = whole.split("─ stdout")[0]
    assert events.count("(its error and stack trace: as above)") >= 1, events
    assert events.count('File "') == result.stdout.split("─ stdout")[0].count('File "'), events
    assert "checks planned" in events and len([l for l in events.splitlines() if "AssetCheckEvaluationPlanned" in l]) == 1, events
    unknown = run_cli(broken["env"], "dagster", "logs", run_id[:8], "no_such_step")
    assert unknown.returncode == 2 and "its steps:" in unknown.stderr


def test_status_tells_the_failed_step_from_what_was_not_built_behind_it(broken):
    """The failed delivery's own asset failed; silver and gold behind it kept their tables, not built:
    the same from Dagster's records (the definitions' snapshot) and from GraphQL (the code loaded).
    (Before the purge below empties the history.)"""
    from clawdata.cli.definitions_snapshot import CACHE_FILE

    for reads in ("records", "graphql"):
        if reads == "graphql":
            (Path(broken["env"]["DAGSTER_HOME"]) / CACHE_FILE).unlink(missing_ok=True)
        shown = run_cli(broken["env"], "dagster", "status")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        if reads == "records":  # read from Dagster's files alone, and the same as through Dagster's API
            assert same_status(broken["env"]) is not None
            assert len(same_status(broken["env"], run_limit=0)["runsOrError"]["results"]) > 1  # 0: every run, as Dagster's
        rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") > 3}
        assert "last build failure" in rows["raw_customers"], (reads, shown.stdout)
        # and why, under the table, as `materialize` said it: the file and its line, and where the trace is
        why = [line for line in shown.stdout.splitlines() if line.startswith("✗ ")]
        assert len(why) == 1 and why[0].startswith("✗ raw_customers failed in run "), (reads, shown.stdout)
        assert "customers_2026-12-01.csv line 3: " in why[0] and "clawdata dagster logs " in why[0], why
        for behind in ("slv_customers", "dim_customers"):
            assert "not built: upstream failed" in rows[behind], (reads, shown.stdout)
        # the read path was published after the failure with what did build (publish_what_built)
        assert "never" not in rows["warehouse_replica"] and "failed" not in rows["warehouse_replica"], (reads, shown.stdout)


def test_status_reads_dagsters_files_only_where_that_reading_holds(broken, tmp_path):
    """`status` reads the local instance's SQLite files without importing Dagster (records_sqlite.py);
    where that reading could differ from Dagster's it declines, and Dagster's API answers: another
    schema revision, another storage, a wiped asset, a run whose process is gone (named by clawdata's
    tag, or by Dagster's engine for a run of `dagster dev`: the local target releases it), an event
    log kept elsewhere, a home with no records yet. A home whose path holds a space is read."""
    import os
    import shutil
    import socket
    import sqlite3

    from clawdata.cli import records_sqlite
    from clawdata.cli.definitions_snapshot import CACHE_FILE

    shown = run_cli(broken["env"], "dagster", "status")  # the snapshot of the definitions, stored
    assert shown.returncode == 0, shown.stdout + shown.stderr
    stored = json.loads((Path(broken["env"]["DAGSTER_HOME"]) / CACHE_FILE).read_text())
    home = tmp_path / "a home"
    original = Path(broken["env"]["DAGSTER_HOME"])
    ours = (original / "dagster.yaml").read_text().replace(str(original), str(home))  # as a moved home is written
    with sqlite3.connect(original / "history/runs.db") as conn:
        run_id, body = conn.execute("SELECT run_id, run_body FROM runs ORDER BY id DESC LIMIT 1").fetchone()

    def answer(*edits: tuple[str, str], yaml: str = ours):
        """The files reader on a copy of the home, each (file, SQL) edit made first."""
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(original, home)
        (home / "dagster.yaml").write_text(yaml)
        for db, sql in edits:
            with sqlite3.connect(home / db) as conn:
                conn.execute(sql)
        return records_sqlite.status_data(home, stored["definitions"], stored["requiredDaemons"], 10)

    def in_progress(process: str | None) -> tuple[str, str]:
        run = json.loads(body)
        run["tags"].pop("clawdata/process", None)
        if process:
            run["tags"]["clawdata/process"] = process
        return "history/runs.db", (f"UPDATE runs SET status = 'STARTED', run_body = '{json.dumps(run).replace(chr(39), chr(39) * 2)}' "
                                   f"WHERE run_id = '{run_id}'")

    def engine_pid(pid: int) -> tuple[str, str]:  # the pid Dagster's engine logged as the run started
        return f"history/runs/{run_id}.db", ("UPDATE event_logs SET event = json_replace(event, "
                                            "'$.dagster_event.event_specific_data.metadata_entries[0].entry_data.text', "
                                            f"'{pid}') WHERE dagster_event_type = 'ENGINE_EVENT'")

    assert answer() is not None
    here, dead = socket.gethostname(), 2**22 + 1
    live = answer(in_progress(f"{here}:{os.getpid()}"))  # a run going on in a live process: read as it is
    assert live is not None and live["runsOrError"]["results"][0]["status"] == "STARTED"
    assert answer(in_progress(f"{here}:{dead}")) is None  # its process gone: the target releases it first
    assert answer(in_progress(None), engine_pid(os.getpid())) is not None  # a run of `dagster dev`, going on
    assert answer(in_progress(None), engine_pid(dead)) is None  # and one whose process is gone
    assert answer(("history/runs.db", "UPDATE alembic_version SET version_num = 'another'")) is None
    assert answer(("schedules/schedules.db", "UPDATE alembic_version SET version_num = 'another'")) is None
    assert answer(("history/runs/index.db", "UPDATE asset_keys SET wipe_timestamp = 1")) is None
    assert answer(yaml=ours + "run_storage:\n  module: elsewhere\n") is None
    assert answer(yaml="storage:\n  postgres: {}\n") is None
    assert answer(yaml=ours.replace(str(home), str(original))) is None  # its event log in another folder
    shutil.rmtree(home)
    home.mkdir()
    (home / "dagster.yaml").write_text(ours)
    assert records_sqlite.status_data(home, stored["definitions"], stored["requiredDaemons"], 10) is None  # no records yet


def test_an_upstream_failure_is_said_while_it_lasts_and_what_it_left_behind_after():
    """Bug: `status` said "not built: upstream failed (run X)" of every asset run X planned and
    skipped for as long as no later run planned it again: a seed whose table nothing had touched,
    days of successful runs later. Now, per asset skipped so: while what failed above it still
    fails, that; once mended, "behind" what was built since it was; else its usual verdict."""
    from clawdata.cli.status import _freshness, attempt_verdicts

    def node(name, reads=(), built_in="good", version="1", attempt=None, steps=None, why=None):
        tags = {"dagster/data_version": f"{name}{version}", **{f"dagster/input_data_version/{r}": f"{r}1" for r in reads}}
        return {"assetKey": {"path": [name]}, "opNames": [name], "dependencyKeys": [{"path": [r]} for r in reads],
                "assetMaterializations": [{"timestamp": 1.0, "runId": built_in, "metadataEntries": [],
                                           "tags": [{"key": k, "value": v} for k, v in tags.items()]}],
                "assetObservations": [{"runId": attempt, "metadataEntries": [{"label": "clawdata/not_built", "text": why}]}]
                if why else [],
                "latestAttempt": {"runId": attempt, "status": "FAILURE", "steps": steps} if attempt else None}

    failed = {"raw": "FAILURE", "slv": "SKIPPED", "model": "SKIPPED", "seed": "SKIPPED", "on_seed": "SKIPPED"}
    graph = [node("raw", attempt="bad00000", steps=failed), node("slv", ["raw"], attempt="bad00000", steps=failed),
             node("model", ["slv"], attempt="bad00000", steps=failed), node("seed", attempt="bad00000", steps=failed),
             node("on_seed", ["seed"], attempt="bad00000", steps=failed)]
    said = lambda nodes: {n["assetKey"]["path"][0]: _freshness(n, n["assetMaterializations"][0], {}, attempt_verdicts(nodes))  # noqa: E731
                          for n in nodes}
    assert said(graph) == {"raw": "[red]last build failure[/] (run bad00000)",
                           "slv": "[yellow]not built[/]: upstream failed (run bad00000)",
                           "model": "[yellow]not built[/]: upstream failed (run bad00000)",  # through slv
                           "seed": "-", "on_seed": "-"}  # nothing they read failed: their tables are current
    graph[0] = node("raw", built_in="mended0")  # a later run built raw alone, to the rows it had
    assert set(said(graph).values()) == {"-"}
    graph[0] = node("raw", built_in="mended1", version="2")  # or to new rows: slv is behind it (model read slv, unchanged)
    assert said(graph) == {"raw": "-", "slv": "[yellow]behind[/] raw (skipped by run bad00000, not built since)",
                           "model": "-", "seed": "-", "on_seed": "-"}
    graph[0] = node("raw", built_in="mended1", version="2", attempt="stop0000") | {  # then a run of it canceled
        "latestAttempt": {"runId": "stop0000", "status": "CANCELED", "steps": {}}}
    assert said(graph)["slv"] == "[yellow]behind[/] raw (skipped by run bad00000, not built since)"  # not "failed"
    graph[1]["assetMaterializations"][0]["tags"] = []  # no record of what it read: news too, as the sensor counts it
    assert said(graph)["slv"] == "[yellow]behind[/] raw (skipped by run bad00000, not built since)"
    # dbt's own skips in the gold step: a model behind a model that failed, and one whose unit test failed
    gold = {"gold": "FAILURE"}
    dbt = [node("a", attempt="bad00001", steps=gold) | {"opNames": ["gold"]},
           node("b", ["a"], attempt="bad00001", steps=gold, why="upstream failed") | {"opNames": ["gold"]},
           node("c", attempt="bad00001", steps=gold, why="its unit test failed") | {"opNames": ["gold"]}]
    assert [said(dbt)[k] for k in "abc"] == ["[red]last build failure[/] (run bad00001)",
                                             "[yellow]not built[/]: upstream failed (run bad00001)",
                                             "[yellow]not built[/]: its unit test failed (run bad00001)"]
    dbt[0] = node("a", built_in="later", version="2") | {"opNames": ["gold"]}
    assert said(dbt)["b"] == "[yellow]behind[/] a (skipped by run bad00001, not built since)"
    assert said(dbt)["c"] == "[yellow]not built[/]: its unit test failed (run bad00001)"  # its own: it stays
    # A run whose process was killed in slv's step: slv's build failed; what it never reached kept its
    # table ("last build failure" there, and nothing under the table to say why): current if nothing it
    # read changed, else behind what did. (raw: built by that run before it died.)
    killed = {"raw": "SUCCESS", "slv": "IN_PROGRESS"}
    graph = [node("raw", built_in="kill0000", version="2", attempt="kill0000", steps=killed),
             node("slv", ["raw"], attempt="kill0000", steps=killed), node("model", ["slv"], attempt="kill0000", steps=killed),
             node("on_raw", ["raw"], attempt="kill0000", steps=killed)]
    assert said(graph) == {"raw": "-", "slv": "[red]last build failure[/] (run kill0000)",
                           "model": "[yellow]not built[/]: its run ended before it (run kill0000)",  # slv fails above it
                           "on_raw": "[yellow]behind[/] raw (skipped by run kill0000, not built since)"}
    graph[1] = node("slv", ["raw"], built_in="later", version="1")  # slv built again, to the rows it had
    assert said(graph)["model"] == "-"


def test_usage_errors_answer_before_the_definitions_load(broken):
    # In a fresh interpreter: whether Dagster (and so the definitions) was imported to answer.
    probe = (
        "import sys\nfrom clawdata.cli.main import cli\n"
        "try:\n    cli(sys.argv[1:], prog_name='clawdata')\n"
        "except SystemExit as e:\n    print('exit', e.code, 'dagster imported' if 'dagster' in sys.modules else 'no dagster')\n"
    )
    for args, fragment in ((["dagster", "materialize"], "or pass --all"),
                           (["dagster", "materialize", "raw_custmers"], "did you mean: raw_customers"),
                           (["--version"], "duckdb ")):
        result = subprocess.run([sys.executable, "-c", probe, *args], env=broken["env"], capture_output=True, text=True, timeout=600)
        expected_exit = 0 if args == ["--version"] else 2
        assert f"exit {expected_exit} no dagster" in result.stdout, result.stdout + result.stderr
        assert fragment in result.stdout + result.stderr


def test_a_failed_run_posts_one_alert(broken, webhook):
    Webhook.received.clear()
    second = run_cli(broken["env"], "dagster", "materialize", "raw_customers")
    assert second.returncode == 1
    ticks = [run_cli(broken["env"], "dagster", "sensor", "tick", "run_failure_alert") for _ in range(2)]
    texts = [m["text"] for m in Webhook.received]
    run_ids = [next(w for w in r.stdout.split() if len(w) == 36) for r in (broken["result"], second)]
    assert len(texts) == 2, texts  # the --all run and the raw_customers run, once each
    assert sorted(sum(i[:8] in t for t in texts) for i in run_ids) == [1, 1], (run_ids, texts)
    assert all("raw_customers: " in t and "customers_2026-12-01.csv line 3" in t and "/runs/" in t for t in texts), texts
    every_output = "".join(t.stdout + t.stderr for t in ticks) + broken["result"].stdout + second.stdout
    assert "secret-token-123" not in every_output


def test_old_runs_are_purged_with_their_logs(broken):
    from dagster import DagsterInstance

    from clawdata.defs.housekeeping.retention import purge_runs

    storage = broken["home"] / "storage"
    assert any(storage.iterdir())  # compute logs of the runs above
    with DagsterInstance.from_config(str(broken["home"])) as instance:
        before = len(instance.get_run_records())
        assert purge_runs(instance, days=0) == 0  # 0: keep everything
        assert purge_runs(instance, days=1) == 0  # nothing is a day old
        purged = purge_runs(instance, days=1e-9)
        assert purged == before and not instance.get_run_records()
    assert not [p for p in storage.iterdir() if p.is_dir() and len(p.name) == 36]
    # Each asset keeps its last materialization in Dagster's records (not its run's events): `status`
    # read from the files says the same as through Dagster's API, not "never built".
    files = same_status(broken["env"])
    assert files is not None and not files["runsOrError"]["results"]
    assert [n for n in files["assetNodes"] if n["assetMaterializations"]], files["assetNodes"]


def test_summary_counts_rebuilt_reused_and_checks_by_severity():
    from clawdata.cli.progress import RunEvent, Summary

    summary = Summary()
    for event in (RunEvent("materialized", "raw_customers"), RunEvent("materialized", "slv_customers", reused=True),
                  RunEvent("check", "a:unique"), RunEvent("check", "a:fresh", ok=False, severity="WARN"),
                  RunEvent("check", "a:not_null", ok=False, severity="ERROR")):
        summary.add(event)
    assert summary.line(12.34) == "1 rebuilt, 1 reused; checks 1 passed, 1 warned, 1 failed; 12.3 s"
    for event in [RunEvent("check_planned", name) for name in ("unique", "fresh", "not_null", "rows_present")]:
        summary.add(event)  # four planned, three evaluated: one skipped (its step failed first)
    assert summary.line(12.34) == "1 rebuilt, 1 reused; checks 1 passed, 1 warned, 1 failed, 1 skipped; 12.3 s"
    summary.add(RunEvent("retry", "run-2"))  # the retry plans and runs that check again
    for event in (RunEvent("check_planned", "rows_present"), RunEvent("check", "a:rows_present")):
        summary.add(event)
    assert summary.line(12.34) == "1 rebuilt, 1 reused; checks 2 passed, 1 warned, 1 failed; 12.3 s"
    summary.add(RunEvent("not_built", "dim_x", "upstream failed", ok=False))
    assert summary.line(12.34) == "1 rebuilt, 1 reused, 1 not built; checks 2 passed, 1 warned, 1 failed; 12.3 s"
    for event in (RunEvent("step_failure", "gold_models", ok=False, failed=2), RunEvent("step_failure", "raw_x", ok=False),
                  RunEvent("step_failure", "slv_y", ok=False, interrupted=True)):  # Ctrl-C: not a failure of the asset's
        summary.add(event)
    assert summary.line(12.34) == "1 rebuilt, 1 reused, 3 failed, 1 not built; checks 2 passed, 1 warned, 1 failed; 12.3 s"


def test_a_run_that_failed_says_the_assets_of_the_steps_it_never_ran_once():
    from clawdata.cli.progress import RunEvent, report

    items = [RunEvent("planned", "raw_x", "raw_x"), RunEvent("planned", "slv_x", "slv_x"),
             *[RunEvent("planned", f"m{i}", "gold_models") for i in range(10)],
             RunEvent("step_start", "raw_x"), RunEvent("step_failure", "raw_x", "bad file", ok=False), "FAILURE"]
    status, summary = report(items)
    assert status == "FAILURE" and summary.not_built == 11 and summary.failed == 1
    status, summary = report(items[:-1] + ["CANCELED"])  # canceled: nothing is said to have failed upstream
    assert summary.not_built == 0


def test_a_broken_model_fails_with_the_database_error(tmp_path):
    """A model whose SQL the database refuses: the run's failure line carries the database's words
    (dbt's result line says only "ERROR creating ..."), and the other models are built."""
    import shutil

    from tests.conftest import ROOT

    paths = make_project(tmp_path)
    project = shutil.copytree(ROOT / "dbt", tmp_path / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "marts" / "broken_model.sql").write_text(
        "select customer_id, no_such_column from {{ ref('dim_customers') }}\n")
    (project / "models" / "marts" / "behind_broken.sql").write_text("select * from {{ ref('broken_model') }}\n")
    (project / "models" / "marts" / "broken_too.sql").write_text("select 1 / 'a' as x\n")
    done = run_cli({**paths["env"], "CLAWDATA_DBT_PROJECT_DIR": str(project)}, "dagster", "materialize", "--all")
    assert done.returncode == 1, done.stdout + done.stderr
    failure = next(line for line in done.stdout.splitlines() if "dbt build:" in line)
    assert "model broken_model" in failure and "no_such_column" in failure and "Binder Error" in failure, done.stdout
    assert "✓ dim_customers" in done.stdout, done.stdout
    # what dbt did not build behind it is said, and counted (the summary counted built and reused alone)
    assert "– behind_broken  not built: upstream failed" in done.stdout, done.stdout
    # and so are the models that failed: the gold step's two, not the step (the summary counted none)
    # and the read path, whose step did not run behind the failed one
    assert "– not built, upstream failed (gold_models): warehouse_replica" in done.stdout, done.stdout
    assert ", 2 failed, 2 not built; checks" in next(l for l in done.stdout.splitlines() if l.startswith("FAILURE:")), done.stdout
    # then the read path, with what did build: the failed models kept their last tables (none: new)
    published = done.stdout.split("as a deployment's replica_sensor does:")[1]
    assert "✓ warehouse_replica" in published, done.stdout



def test_a_failure_line_names_its_step_once(monkeypatch):
    """An audit's message names its table, which is the step: `✗ slv_x: audit failed ...`, not
    `✗ slv_x: slv_x: audit failed ...`."""
    import io

    from clawdata.cli import progress

    printed = io.StringIO()
    monkeypatch.setattr(progress.console, "file", printed)
    progress.show(progress.RunEvent("step_failure", "slv_visits", "slv_visits: audit failed, last good version kept: "
                                                                 "pages_in_range (1 row out of range)", ok=False))
    assert printed.getvalue().strip() == "✗ slv_visits: audit failed, last good version kept: pages_in_range (1 row out of range)"
