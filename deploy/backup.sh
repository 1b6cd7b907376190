#!/usr/bin/env bash
# Back up or restore a running stack: Dagster's Postgres database (runs, events, schedule and sensor
# state), the published replica of silver and gold (never waits for a run; it says which published
# version it holds) and the inbox of delivered files (bronze is rebuilt from them).
#   deploy/backup.sh backup            -> backups/<UTC timestamp>/{dagster.dump,warehouse.duckdb,inbox.tar.gz}
#   deploy/backup.sh restore DIR       -> stops the Dagster services, restores both, starts them again
# COMPOSE may name another compose invocation (e.g. with --env-file); the default uses ./.env.
set -euo pipefail
cd "$(dirname "$0")/.."
compose=${COMPOSE:-docker compose}
warehouse=/var/lib/clawdata/warehouse/warehouse.duckdb
replica=/var/lib/clawdata/replica/warehouse.duckdb

case "${1:-}" in
  backup)
    dir=${2:-backups/$(date -u +%Y%m%dT%H%M%SZ)}
    mkdir -p "$dir" && dir=$(realpath "$dir")
    # Custom format: compressed, and pg_restore can clean and recreate every object.
    $compose exec -T postgres pg_dump -U dagster -d dagster --format=custom >"$dir/dagster.dump"
    # The replica's current version (a published file is never changed in place: no lock, no wait).
    $compose run --rm --no-deps -T --user "$(id -u):$(id -g)" -v "$dir:/backup" user_code \
      sh -c "python -m clawdata.warehouse.backup $replica /backup/warehouse.duckdb >/backup/snapshot.txt && cat /backup/snapshot.txt && tar -C /var/lib/clawdata/inbox -czf /backup/inbox.tar.gz ."
    echo "backup written to $dir"
    ;;
  restore)
    dir=${2:?usage: deploy/backup.sh restore backups/<timestamp>}
    dir=$(realpath "$dir")
    [ -s "$dir/dagster.dump" ] && [ -s "$dir/warehouse.duckdb" ] && [ -s "$dir/inbox.tar.gz" ] || { echo "$dir has no complete backup" >&2; exit 1; }
    # Nothing may write while the state is replaced: stop everything but Postgres.
    $compose stop webserver daemon user_code
    $compose exec -T postgres pg_restore -U dagster -d dagster --clean --if-exists --no-owner <"$dir/dagster.dump"
    $compose run --rm --no-deps -T --user 0 -v "$dir:/backup:ro" user_code sh -c \
      "cp /backup/warehouse.duckdb $warehouse.restoring && rm -f $warehouse.wal && mv $warehouse.restoring $warehouse \
       && mkdir -p $(dirname $replica) && cp /backup/warehouse.duckdb $replica.restoring && mv $replica.restoring $replica \
       && find /var/lib/clawdata/inbox -mindepth 1 -delete && tar -C /var/lib/clawdata/inbox -xzf /backup/inbox.tar.gz \
       && chown -R clawdata:clawdata /var/lib/clawdata"
    $compose up -d --wait
    echo "restored from $dir"
    ;;
  *)
    echo "usage: deploy/backup.sh backup [DIR] | restore DIR" >&2
    exit 2
    ;;
esac
