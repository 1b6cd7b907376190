"""A throwaway PostgreSQL server for tests: the PostgreSQL 15 binaries of the machine (initdb, pg_ctl),
a cluster in a temporary folder on a free port, password authentication, removed afterwards. As root,
the server runs as `nobody` (PostgreSQL refuses to run as root)."""

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.stack.harness import free_port

USER, PASSWORD = "app", "s3cret-Pg-4815"


def _as_server_user(command: str) -> list[str]:
    return ["su", "-s", "/bin/bash", "nobody", "-c", command] if os.geteuid() == 0 else ["bash", "-c", command]


def available() -> str | None:
    """None if a server can be started here, else why not."""
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if shutil.which(b) is None]
    return f"no PostgreSQL server binaries ({', '.join(missing)})" if missing else None


@contextmanager
def postgres_server():
    """Yields (host, port) of a running server with user `app` (password PASSWORD) and database `app`.
    Its folder is a fresh one under the system's temporary folder: the server's user must reach it
    (pytest's own folders are the test user's alone)."""
    workdir = Path(tempfile.mkdtemp(prefix="clawdata-pg-"))
    data, password_file, port = workdir / "data", workdir / "pw", free_port()
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(workdir, "nobody")
        shutil.chown(password_file, "nobody")
    subprocess.run(_as_server_user(f"initdb -D {data} -U {USER} --auth=md5 --pwfile={password_file} >/dev/null"), check=True)
    subprocess.run(_as_server_user(f"pg_ctl -D {data} -o '-p {port} -k {workdir} -c listen_addresses=127.0.0.1' "
                                   f"-l {workdir}/server.log -w start >/dev/null"), check=True)
    try:
        psql("127.0.0.1", port, "postgres", f"CREATE DATABASE {USER}")
        yield "127.0.0.1", port
    finally:
        subprocess.run(_as_server_user(f"pg_ctl -D {data} -m immediate stop >/dev/null"), check=False)
        time.sleep(0.2)
        shutil.rmtree(workdir, ignore_errors=True)


def psql(host: str, port: int, database: str, sql: str) -> str:
    done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port),
                           "-U", USER, "-d", database, "-c", sql],
                          env={**os.environ, "PGPASSWORD": PASSWORD}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
