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
