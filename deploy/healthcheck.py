#!/usr/bin/env python3
"""Container healthchecks that cost milliseconds, not a Dagster import.

Docker runs these every few seconds for the life of the stack. `dagster api grpc-health-check` and
`dagster-daemon liveness-check` import all of Dagster each time (about 1-1.5 s of CPU per check, more
than the stack's idle load); these ask the same questions with only grpc, urllib or psycopg2.

    clawdata-healthcheck grpc PORT         the code server's gRPC health service answers SERVING
    clawdata-healthcheck http URL          the URL answers 2xx
    clawdata-healthcheck daemon MAX_AGE    every daemon heartbeat in Postgres is newer than MAX_AGE s, and
                                           this container's daemon (PID 1) has written one since it started
"""

import os
import sys


def grpc_serving(port: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def http_ok(url: str) -> bool:
    # A raw HTTP/1.0 GET: urllib.request's imports (http.client, email, ssl) would double the
    # check's CPU, and this one only ever asks a plain-HTTP port on localhost.
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=5) as conn:
        conn.sendall(f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
        status_line = conn.makefile("rb").readline().split()
    return len(status_line) >= 2 and status_line[1].startswith(b"2")


def _pid1_started() -> float:
    """When this container's main process started (epoch s): from /proc, no psutil needed."""
    with open("/proc/1/stat") as f:
        ticks = int(f.read().rpartition(")")[2].split()[19])  # field 22, starttime, after the name
    with open("/proc/stat") as f:
        boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def daemon_alive(max_age: str) -> bool:
    import psycopg2

    env = os.environ
    with psycopg2.connect(host=env["DAGSTER_POSTGRES_HOST"], dbname=env["DAGSTER_POSTGRES_DB"],
                          user=env["DAGSTER_POSTGRES_USER"], password=env["DAGSTER_POSTGRES_PASSWORD"],
                          connect_timeout=5) as conn, conn.cursor() as cursor:
        # Dagster stores heartbeat times in UTC without a zone. The rows outlive the daemon, so after
        # a quick restart the old process's heartbeats would still look fresh: the newest must also
        # postdate this process's start.
        cursor.execute("SELECT max(extract(epoch FROM (now() AT TIME ZONE 'utc') - timestamp)),"
                       " max(extract(epoch FROM timestamp)) FROM daemon_heartbeats")
        oldest_age, newest = cursor.fetchone()
    return (oldest_age is not None and float(oldest_age) < float(max_age)
            and float(newest) >= _pid1_started() - 1)


CHECKS = {"grpc": grpc_serving, "http": http_ok, "daemon": daemon_alive}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        sys.exit(__doc__)
    try:
        sys.exit(0 if CHECKS[sys.argv[1]](sys.argv[2]) else 1)
    except Exception as e:  # unreachable, refused, timed out: unhealthy, with the reason in `docker inspect`
        sys.exit(f"unhealthy: {type(e).__name__}: {e}")
