#!/usr/bin/env bash
# Build the stack's base images locally, for machines with no reachable container registry,
# and select them through the project's .env (docker-compose.yml stays unchanged):
#   PYTHON_BASE_IMAGE=clawdata/python-base:3.11-bookworm   (debootstrap'd Debian 12 + python3.11)
#   POSTGRES_IMAGE=clawdata/postgres:15-bookworm           (Debian's postgresql-15, deploy/postgres)
# Usage: deploy/offline-images.sh [--rebuild] [--env-file PATH]
# Needs docker + debootstrap (deploy/provision-docker.sh). Detail goes to $LOG.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ENV_FILE=$HERE/../.env
REBUILD=0
while [ $# -gt 0 ]; do
  case $1 in
    --rebuild) REBUILD=1 ;;
    --env-file) ENV_FILE=${2:?--env-file needs a path}; shift ;;
    *) echo "usage: $0 [--rebuild] [--env-file PATH]" >&2; exit 2 ;;
  esac
  shift
done

PY_IMAGE=clawdata/python-base:3.11-bookworm
PG_IMAGE=clawdata/postgres:15-bookworm
LOG=${OFFLINE_IMAGES_LOG:-/var/log/clawdata-offline-images.log}
: >>"$LOG"
step() { printf '%-12s %s\n' "$1" "$2"; }
die() { echo "ERROR: $* (log: $LOG)" >&2; exit 1; }

ROOTFS=
cleanup() {
  [ -n "$ROOTFS" ] || return 0
  # debootstrap mounts /proc etc. inside the target; a failed run can leave them mounted.
  findmnt -rn -o TARGET | grep "^$ROOTFS/" | sort -r | xargs -r umount -l || true
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

build_python_base() {
  ROOTFS=$(mktemp -d /var/tmp/clawdata-rootfs.XXXXXX)
  # No mirror argument: debootstrap's built-in default works and names no host in this repo.
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$ROOTFS" >>"$LOG" 2>&1 || die "debootstrap failed"

  # debootstrap only configures the release suite; add -updates and -security on the same
  # mirror (its ".../debian" twin ".../debian-security") and apply them, like the official
  # Debian images do, so the base is not stuck at the point release.
  local mirror
  mirror=$(awk '$1 == "deb" { print $2; exit }' "$ROOTFS/etc/apt/sources.list")
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s-security bookworm-security main\n' \
    "$mirror" "$mirror" "$mirror" >"$ROOTFS/etc/apt/sources.list"
  chroot "$ROOTFS" apt-get update >>"$LOG" 2>&1 || die "apt-get update in rootfs failed"
  chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get -y upgrade >>"$LOG" 2>&1 \
    || die "apt-get upgrade in rootfs failed"

  # Lean: keep docs/man/locales out now and in every later apt-get install in derived images
  # (same rules as Debian's official slim images); drop apt caches and host-specific files.
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  echo 'Acquire::Languages "none";' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
  chroot "$ROOTFS" apt-get clean
  # Never delete through a mount point (would reach into the host): refuse if one is left.
  if findmnt -rn -o TARGET | grep "^$ROOTFS/" >/dev/null; then die "mounts left under $ROOTFS"; fi
  find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$ROOTFS/var/log" -type f -delete
  rm -rf --one-file-system "$ROOTFS"/usr/share/{man,info,locale,lintian}/* \
    "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/tmp/*
  # Docker supplies these at run time; don't bake in the build host's resolver or name.
  : >"$ROOTFS/etc/resolv.conf"
  echo localhost >"$ROOTFS/etc/hostname"

  tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$PY_IMAGE" >>"$LOG" 2>&1 \
    || die "docker import failed"
  cleanup; ROOTFS=
  # The project Dockerfile builds a venv on top of this image: prove that works.
  docker run --rm "$PY_IMAGE" sh -c 'python3 -m venv /tmp/v && /tmp/v/bin/python -m pip --version' \
    >>"$LOG" 2>&1 || die "python3 -m venv does not work in $PY_IMAGE"
}

# set_env FILE KEY VALUE: replace KEY's line (first one; drop duplicates) or append it;
# all other lines are kept. Rewrites in place (keeps the file's inode, mode and symlinks).
set_env() {
  local file=$1 key=$2 val=$3 tmp
  [ -e "$file" ] || (umask 077 && : >"$file")  # .env also holds secrets: private if we create it
  tmp=$(mktemp)
  awk -v k="$key" -v v="$val" '
    $0 ~ "^[[:space:]]*(export[[:space:]]+)?" k "=" { if (!done) print k "=" v; done = 1; next }
    { print }
    END { if (!done) print k "=" v }' "$file" >"$tmp"
  cmp -s "$tmp" "$file" || cat "$tmp" >"$file"
  rm -f "$tmp"
}

command -v debootstrap >/dev/null || die "debootstrap missing: run deploy/provision-docker.sh"
docker info >/dev/null 2>&1 || die "docker engine not reachable: run deploy/provision-docker.sh"

if [ "$REBUILD" = 0 ] && docker image inspect "$PY_IMAGE" >/dev/null 2>&1; then
  step python-base "exists: $PY_IMAGE"
else
  build_python_base
  step python-base "built: $PY_IMAGE"
fi

# Always run the build: the layer cache makes it a ~1 s no-op, and it picks up edits to
# deploy/postgres. --rebuild also refreshes the apt layer.
nocache=(); [ "$REBUILD" = 1 ] && nocache=(--no-cache)
docker build "${nocache[@]}" --build-arg BASE_IMAGE="$PY_IMAGE" -t "$PG_IMAGE" "$HERE/postgres" \
  >>"$LOG" 2>&1 || die "docker build of $PG_IMAGE failed"
step postgres "built: $PG_IMAGE"

set_env "$ENV_FILE" PYTHON_BASE_IMAGE "$PY_IMAGE"
set_env "$ENV_FILE" POSTGRES_IMAGE "$PG_IMAGE"
step env "$(cd "$(dirname "$ENV_FILE")" && pwd)/$(basename "$ENV_FILE"): PYTHON_BASE_IMAGE, POSTGRES_IMAGE"
