#!/usr/bin/env bash
# Smoke test for the images built by deploy/offline-images.sh: venv in the python base; and the
# postgres image's contract as compose uses it (init, TCP + password from another container,
# healthcheck tool, data kept across restart/recreate, clean stop). Leaves nothing behind.
set -euo pipefail

PY_IMAGE=${PYTHON_BASE_IMAGE:-clawdata/python-base:3.11-bookworm}
PG_IMAGE=${POSTGRES_IMAGE:-clawdata/postgres:15-bookworm}
T=clawdata-pgtest-$$            # unique names: old runs' leftovers can't collide
LOG=${TEST_LOG:-/tmp/$T.log}

cleanup() {
  docker rm -f "$T-db" "$T-db2" >/dev/null 2>&1 || true
  docker volume rm "$T-data" >/dev/null 2>&1 || true
  docker network rm "$T-net" >/dev/null 2>&1 || true
}
trap cleanup EXIT
exec 3>&1 >>"$LOG" 2>&1       # detail to the log; ok/FAIL lines to the terminal via fd 3
ok() { printf 'ok    %s\n' "$*" >&3; }
fail() { printf 'FAIL  %s (log: %s)\n' "$*" "$LOG" >&3; exit 1; }

wait_ready() {  # the same check a compose healthcheck would run
  for _ in $(seq 60); do
    docker exec "$1" pg_isready -U dagster -d dagster && return 0
    sleep 0.5
  done
  docker logs "$1"; return 1
}
psql_tcp() {  # psql from a *different* container, over TCP on the user-defined network
  local pw=$1; shift
  docker run --rm --network "$T-net" -e PGPASSWORD="$pw" "$PG_IMAGE" \
    psql -X -h "$T-db" -U dagster -d dagster -v ON_ERROR_STOP=1 -Atc "$@"
}

docker run --rm "$PY_IMAGE" sh -c 'python3 -m venv /tmp/v && /tmp/v/bin/pip --version' \
  || fail "python3 -m venv in $PY_IMAGE"
ok "python-base: $(docker run --rm "$PY_IMAGE" python3 --version), venv + pip work"

out=$(docker run --rm "$PG_IMAGE" 2>&1) && fail "started without POSTGRES_PASSWORD"
grep -q POSTGRES_PASSWORD <<<"$out" || fail "no clear message without POSTGRES_PASSWORD"
ok "refuses to initialize without POSTGRES_PASSWORD"

docker network create "$T-net"
docker volume create "$T-data"
run_db() {
  docker run -d --name "$1" --network "$T-net" --network-alias "$T-db" -v "$T-data:/var/lib/postgresql/data" \
    -e POSTGRES_PASSWORD=x -e POSTGRES_USER=dagster -e POSTGRES_DB=dagster "$PG_IMAGE"
}
run_db "$T-db"
wait_ready "$T-db" || fail "pg_isready never succeeded"
ok "pg_isready inside the container"
[ "$(docker exec "$T-db" cat /proc/1/comm)" = postgres ] || fail "postgres is not PID 1"
[ "$(docker exec "$T-db" stat -c '%U %a' /var/lib/postgresql/data)" = "postgres 700" ] \
  || fail "PGDATA ownership/mode"
ok "postgres is PID 1; PGDATA owned by postgres, mode 700"

[ "$(psql_tcp x 'SELECT current_user || current_database()')" = dagsterdagster ] \
  || fail "psql over TCP with password"
psql_tcp x 'CREATE TABLE t(v int); INSERT INTO t VALUES (42)' || fail "write over TCP"
ok "psql over TCP from another container (user dagster, db dagster)"
psql_tcp wrong 'SELECT 1' && fail "wrong password accepted"
docker logs "$T-db" 2>&1 | grep 'password authentication failed' >/dev/null || fail "no scram rejection logged"
ok "wrong password rejected (password authentication failed)"

docker restart "$T-db"
wait_ready "$T-db" || fail "not ready after restart"
[ "$(psql_tcp x 'SELECT v FROM t')" = 42 ] || fail "data lost across restart"
ok "data kept across docker restart"

docker stop "$T-db"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$T-db")" = 0 ] || fail "docker stop exit code"
docker logs "$T-db" 2>&1 | tail -n 3 | grep 'database system is shut down' >/dev/null || fail "no shutdown log line"
ok "docker stop: exit code 0, 'database system is shut down'"

docker start "$T-db"; wait_ready "$T-db" || fail "not ready after start"
docker kill -s TERM "$T-db"
[ "$(docker wait "$T-db")" = 0 ] || fail "SIGTERM exit code"
ok "SIGTERM (smart shutdown) also exits 0"

docker rm "$T-db"
run_db "$T-db2"; wait_ready "$T-db2" || fail "not ready on recreated container"
[ "$(psql_tcp x 'SELECT v FROM t')" = 42 ] || fail "data lost across container recreate"
docker logs "$T-db2" 2>&1 | grep 'entrypoint: initialized' >/dev/null && fail "re-initialized existing PGDATA"
ok "new container on the same volume keeps data, no re-init"
