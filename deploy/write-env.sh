#!/usr/bin/env bash
# Writes the machine-specific settings into .env, keeping whatever is there: a random Postgres
# password (only if none is set) and the group of the Docker socket. .env is never committed.
set -euo pipefail
env_file=${1:-.env}
touch "$env_file" && chmod 600 "$env_file"

set_if_empty() {  # KEY VALUE: set KEY unless it already has a value
  local key=$1 value=$2
  if grep -qE "^${key}=.+" "$env_file"; then return; fi
  sed -i "/^${key}=/d" "$env_file"
  echo "${key}=${value}" >>"$env_file"
}

set_if_empty DAGSTER_POSTGRES_PASSWORD "$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
if [ -S /var/run/docker.sock ]; then
  sed -i '/^DOCKER_GID=/d' "$env_file"  # the socket's group can change when the engine is reinstalled
  echo "DOCKER_GID=$(stat -c %g /var/run/docker.sock)" >>"$env_file"
fi

# The proxy (profile `proxy`) shares the UI beyond this host behind a password: refuse a missing or
# short one now, rather than a proxy that serves nothing.
if grep -qE '^COMPOSE_PROFILES=.*proxy' "$env_file"; then
  password=$(grep -oP '^CLAWDATA_PROXY_PASSWORD=\K.*' "$env_file" || true)
  if [ "${#password}" -lt 12 ]; then
    echo "error: COMPOSE_PROFILES enables the proxy, but CLAWDATA_PROXY_PASSWORD in $env_file is shorter than 12 characters;" >&2
    echo "       set one (e.g. \`openssl rand -base64 18\`) or remove proxy from COMPOSE_PROFILES." >&2
    exit 1
  fi
fi
