#!/usr/bin/env bash
# Entrypoint for deploy/postgres/Dockerfile. Follows the official postgres image's contract for
# POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_INITDB_ARGS and PGDATA, so the compose
# file works unchanged with either image. (No /docker-entrypoint-initdb.d support.)
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA

# `docker run IMAGE -c x=y` means `postgres -c x=y`; any other command (psql, pg_dump, bash)
# runs as given, so the image doubles as a client.
if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  # Root only to hand the data dir to postgres (a fresh volume or bind mount may be root-owned),
  # then re-run this script as postgres. setpriv is in util-linux, present in every Debian base.
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
  export HOME=/var/lib/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: database is uninitialized and POSTGRES_PASSWORD is not set or empty." >&2
    echo "       Set POSTGRES_PASSWORD (e.g. docker run -e POSTGRES_PASSWORD=...)." >&2
    exit 1
  fi
  # Password goes to initdb through a private temp file: never on a command line or in a log.
  pwfile=$(mktemp)
  trap 'rm -f "$pwfile"' EXIT
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a word list, as in the official image
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  # Local socket stays trust (in-container tools, as in the official image); every TCP client
  # (other containers on the compose network) needs the password.
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

  if [ "$POSTGRES_DB" != postgres ]; then
    # Temporary server on a private socket only: no client can connect, and a pg_isready
    # healthcheck can't report ready, before setup is complete and the real server is up.
    sockdir=$(mktemp -d)
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$sockdir" -w start >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -v db="$POSTGRES_DB" -h "$sockdir" -U "$POSTGRES_USER" -d postgres \
      <<<'CREATE DATABASE :"db";'
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    rmdir "$sockdir"
  fi
  echo "entrypoint: initialized $PGDATA (user \"$POSTGRES_USER\", database \"$POSTGRES_DB\")"
fi

# exec: postgres becomes PID 1 and gets docker's stop signal directly (clean shutdown).
unset POSTGRES_PASSWORD
exec "$@"
