"""A fork server for `tests.conftest.run_cli`: the `clawdata` command without its imports' cost.

Each `clawdata` process spends 2-5 s importing Dagster, dagster-dbt, dbt and DuckDB, and the tests
call it several hundred times. This process imports those libraries once and does nothing else: no
clawdata module beyond gc_tuning and gold/dbt_core (stdlib alone), no instance, no DuckDB database,
no thread. For each call it forks a child, which takes the call's environment, working directory,
arguments and output files, then imports clawdata and runs its command as the console script does,
and exits as that process would (atexit handlers, threads joined, exit status). What a child
inherits is only the libraries' import-time state, which the real command builds the same way:
dagster-dbt imported without dbt-core (gold/dbt_core.py), and dbt-core as a gold step imports it.
A call for a project with a selectors.yml (dagster-dbt with dbt-core) runs as a process of its own.

Protocol (one request at a time from each client thread, under the client's lock): a JSON line on
stdin, {"args", "env", "cwd", "stdout", "stderr", "done"}; the reply is the child's pid on a line of
its own. When the child ends, its exit status (as subprocess reports it: -N for signal N) is written
to the "done" file. EOF on stdin ends the server.
"""

import json
import os
import select
import sys
from pathlib import Path

sys.path[0] = os.path.dirname(sys.executable)  # as for the console script: not this tests/ folder
import clawdata.gc_tuning  # noqa: F401 (first, as the command imports it)

# What every `clawdata dagster ...` command imports before it reads its arguments' files.
import click  # noqa: F401,E402
import dagster  # noqa: F401,E402
import dagster_duckdb  # noqa: F401,E402
from clawdata.gold import dbt_core  # noqa: E402

dbt_core.import_dagster_dbt(Path(__file__).resolve().parents[1] / "dbt")  # the sample: no selectors
dbt_core.imported()
import duckdb  # noqa: F401,E402
import rich.console  # noqa: F401,E402
import yaml  # noqa: F401,E402


def _serve() -> dict:
    """Fork a child per request; return the request in the child (never in the server)."""
    children: dict[int, str] = {}
    pending = b""
    while True:
        ready, _, _ = select.select([0], [], [], 0.02 if children else None)
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                path = children.pop(pid)
                try:
                    with open(path + ".tmp", "w") as f:
                        f.write(str(os.waitstatus_to_exitcode(status)))
                    os.replace(path + ".tmp", path)
                except OSError:  # its client stopped waiting (a timeout) and removed its folder
                    pass
        if not ready:
            continue
        chunk = os.read(0, 1 << 20)
        if not chunk:
            for pid in children:  # the client is gone: so are the commands it waited for
                os.kill(pid, 9)
            os._exit(0)
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                return request
            children[pid] = request["done"]
            os.write(1, f"{pid}\n".encode())


def _become(request: dict) -> None:
    """In the child: the process `subprocess.run([clawdata, *args], env=..., cwd=..., capture_output=True)` makes."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.close(null)
    # As Python sets them up for pipes: stdout block-buffered, stderr line-buffered and lenient.
    sys.stdin = sys.__stdin__ = open(0, "r", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)
    sys.argv = [request["argv0"], *request["args"]]


if __name__ == "__main__":
    _become(_serve())
    from clawdata.cli.main import main

    main()  # exits (click's standalone mode): the interpreter then shuts down as the command's would
