"""`status`'s two local readers on one home: Dagster's SQLite files read directly (cli/records_sqlite.py)
and Dagster's API (cli/records.py). Run as `python -m tests.status_readers N` with the project's
environment, it prints both answers as JSON; `same_status(env)` asserts they agree. With `snapshot`:
the definitions' snapshot a local command stored, and GraphQL's answer to the same query."""

import json
import subprocess
import sys
import time

from tests.conftest import ROOT, run_cli


def same_status(env: dict, run_limit: int = 10, attempts: int = 3) -> dict | None:
    """Both readers' answers, asserted equal; the files' answer (None: it declined). A daemon's
    heartbeat may land between the two reads: a difference must hold over `attempts` reads."""
    shown = run_cli(env, "dagster", "status")  # as the user does: the definitions' snapshot stored
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for attempt in range(attempts):
        done = subprocess.run([sys.executable, "-m", "tests.status_readers", str(run_limit)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        answers = json.loads(done.stdout)
        if answers["files"] is None:
            return None
        for answer in answers.values():  # computed a moment apart: the next tick of a schedule may move
            for repo in answer["repositoriesOrError"]["nodes"]:
                for schedule in repo["schedules"]:
                    schedule.pop("futureTicks")
        if answers["files"] == answers["dagster"] or attempt == attempts - 1:
            assert answers["files"] == answers["dagster"], json.dumps(answers, indent=1)[:20_000]
            return answers["files"]
        time.sleep(1)


def stored_and_graphql_snapshots(env: dict) -> dict:
    """{"stored": what the last local command stored (None: nothing current), "graphql": QUERY's answer}."""
    done = subprocess.run([sys.executable, "-m", "tests.status_readers", "snapshot"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def snapshots() -> None:
    from clawdata.cli import definitions_snapshot, local
    from clawdata.cli.target import LocalTarget

    stored = definitions_snapshot.recalled(local.dagster_home())
    with LocalTarget(load_code=True) as target:  # GraphQL on the loaded code, as a deployment answers
        print(json.dumps({"stored": stored, "graphql": target.graphql(definitions_snapshot.QUERY)}))


def main(run_limit: int) -> None:
    from clawdata.cli import definitions_snapshot, local, records, records_sqlite

    home = local.dagster_home()
    stored = definitions_snapshot.recalled(home)
    assert stored is not None, "no definitions' snapshot: run a command that loads the code first"
    files = records_sqlite.status_data(home, stored["definitions"], stored.get("requiredDaemons"), run_limit)
    with local.local_instance() as instance:
        data = records.status_data(instance, stored["definitions"], run_limit)
        dagster = {**data, "builtElsewhere": records.built_elsewhere(instance, data["assetNodes"], run_limit), "released": []}
    print(json.dumps({"files": files, "dagster": dagster}))


if __name__ == "__main__":
    snapshots() if sys.argv[1] == "snapshot" else main(int(sys.argv[1]))
