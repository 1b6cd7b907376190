#!/usr/bin/env bash
# Back up or restore a stack, up or down.
#   deploy/backup.sh backup [DIR]   -> backups/<UTC time>/ (mode 700, files 600): dagster.dump (Dagster's
#                                      records), warehouse.duckdb (the published replica: silver and gold),
#                                      inbox.tar.gz (every delivered file), generation.txt, snapshot.txt
#   deploy/backup.sh restore DIR    -> puts them back, then makes Dagster's records agree with the
#                                      restored warehouse (clawdata.cli.reconcile)
# A backup never waits for a run (the replica is never changed in place). A restore works whatever
# moment the backup was taken at: the warehouse decides, runs that were going are canceled, and the
# next run rebuilds bronze (and its ledger) from the restored inbox and everything above it.
# Inbox files newer than the backup are moved aside (listed), never deleted.
# COMPOSE may name another compose invocation (e.g. with --env-file); the default uses ./.env.
set -Eeuo pipefail  # (-E: the restore's ERR trap fires in functions too)
cd "$(dirname "$0")/.."
compose=${COMPOSE:-docker compose}
umask 077

running() { [ -n "$($compose ps --status running -q "$1" 2>/dev/null)" ]; }

# Postgres is needed either way; started alone for the occasion when the stack is down.
started_postgres=0
need_postgres() {
  if ! running postgres; then
    $compose up -d --wait postgres >/dev/null
    started_postgres=1
  fi
}
done_with_postgres() { if [ "$started_postgres" = 1 ]; then $compose stop postgres >/dev/null; fi; }

# A user-code container with the volumes, as the invoking user or root.
in_user_code() {  # USER MOUNT COMMAND...
  local user=$1 mount=$2; shift 2
  $compose run --rm --no-deps -T --user "$user" -v "$mount" -e DAGSTER_HOME=/opt/dagster/home user_code "$@"
}

case "${1:-}" in
  backup)
    dir=${2:-backups/$(date -u +%Y%m%dT%H%M%SZ)}
    mkdir -p "$dir" && chmod 700 "$dir" && dir=$(realpath "$dir")
    need_postgres
    # Custom format: compressed, and pg_restore can clean and recreate every object.
    $compose exec -T postgres pg_dump -U dagster -d dagster --format=custom >"$dir/dagster.dump"
    in_user_code "$(id -u):$(id -g)" "$dir:/backup" python -m clawdata.warehouse.backup backup /backup
    done_with_postgres
    chmod 600 "$dir"/*
    echo "backup written to $dir (readable by $(id -un) only)"
    ;;
  restore)
    dir=${2:?usage: deploy/backup.sh restore backups/<timestamp>}
    [ -d "$dir" ] || { echo "error: no backup folder at $dir (make backup writes backups/<timestamp>/)" >&2; exit 1; }
    dir=$(realpath "$dir")
    for f in dagster.dump warehouse.duckdb inbox.tar.gz; do
      [ -s "$dir/$f" ] || { echo "error: $dir has no $f: not a complete backup" >&2; exit 1; }
    done
    was_up=0; running webserver && was_up=1
    need_postgres
    # The backup is readable by its owner only: handed to the container through a copy it may read.
    stage=$(mktemp -d) && trap 'rm -rf "$stage"' EXIT
    cp "$dir"/warehouse.duckdb "$dir"/inbox.tar.gz "$stage"/ && { cp "$dir"/generation.txt "$stage"/ 2>/dev/null || true; }
    chmod 755 "$stage" && chmod 644 "$stage"/*
    # Every file read whole before anything is stopped or replaced: a damaged copy (truncated, say)
    # had replaced the warehouse, or emptied the records (pg_restore --clean drops them first).
    if ! $compose exec -T postgres pg_restore -f /dev/null <"$dir/dagster.dump" 2>"$stage/dump-check"; then
      echo "error: $dir/dagster.dump is damaged ($(head -c 300 "$stage/dump-check")): restore another backup; nothing was changed" >&2
      done_with_postgres; exit 1
    fi
    if ! in_user_code 0 "$stage:/backup:ro" python -m clawdata.warehouse.backup verify /backup 2>"$stage/verify-check"; then
      echo "$(sed "s#/backup/#$dir/#g" "$stage/verify-check"); nothing was changed" >&2  # (the backup's own path)
      done_with_postgres; exit 1
    fi
    trap 'echo "error: the restore stopped half-way; the stack is left stopped. Fix the cause and run it again." >&2' ERR
    # Nothing may write while the state is replaced: no service, and no run container (each run's own,
    # started by the daemon's run launcher, labelled with the stack's name); the restored records say
    # what became of their runs.
    $compose stop webserver daemon user_code >/dev/null 2>&1 || true
    stack=$($compose config --format json | grep -m1 -o '"name": *"[^"]*"' | cut -d'"' -f4)
    runs=$(docker ps -q --filter "label=com.clawdata.stack=${stack:?}")
    if [ -n "$runs" ]; then
      echo "stopping $(echo "$runs" | wc -l) run container(s) of stack $stack"
      docker stop $runs >/dev/null
    fi
    in_user_code 0 "$stage:/backup:ro" sh -c \
      "python -m clawdata.warehouse.backup restore /backup && chown -R clawdata:clawdata /var/lib/clawdata"
    $compose exec -T postgres pg_restore -U dagster -d dagster --clean --if-exists --no-owner <"$dir/dagster.dump"
    in_user_code clawdata "$stage:/backup:ro" python -m clawdata.cli.reconcile "$(basename "$dir")"
    if [ "$was_up" = 1 ]; then
      $compose up -d --wait >/dev/null
      echo "restored from $dir; the stack is up again"
    else
      done_with_postgres
      echo "restored from $dir; the stack stays down (make up starts it)"
    fi
    ;;
  *)
    echo "usage: deploy/backup.sh backup [DIR] | restore DIR" >&2
    exit 2
    ;;
esac
