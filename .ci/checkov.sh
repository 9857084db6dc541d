#!/usr/bin/env bash
# .ci/checkov.sh DIR LABEL [MAX] -- checkov on the kustomize-built Kubernetes output of one render.
#
#   DIR    a misp-gen output dir with DIR/kubernetes/kustomization.yaml
#   LABEL  shown on every line
#   MAX    most skipped checks allowed per workload (default: no limit)
#
# Prints every failed check (there must be none), then every skipped check of every object with the
# reason the spec gave (misp-gen writes it into the `checkov.io/skipN: CHECK=reason` annotation),
# and the number of skips per workload. Exit 1 on a failed check or a workload over MAX, 2 on bad
# usage or a missing tool.
set -uo pipefail
if [ $# -lt 2 ] || [ ! -f "$1/kubernetes/kustomization.yaml" ]; then
  echo "usage: $0 DIR LABEL [MAX]   (DIR: a rendered misp-gen output dir with kubernetes/)" >&2
  exit 2
fi
DIR=$1 LABEL=$2 MAX=${3:-}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_tools=${MISP_GEN_TOOLS:-$REPO/target/ci-tools}
command -v checkov >/dev/null 2>&1 || PATH="$_tools/venv/bin:$_tools/bin:$PATH"
for t in checkov kubectl python3; do
  command -v "$t" >/dev/null 2>&1 || { echo "checkov[$LABEL]: missing tool $t" >&2; exit 2; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/misp-gen-checkov.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
if ! kubectl kustomize "$DIR/kubernetes" >"$TMP/built.yaml" 2>"$TMP/kustomize.err"; then
  echo "checkov[$LABEL]: kubectl kustomize failed:"; sed 's/^/  | /' "$TMP/kustomize.err"
  exit 1
fi
# --skip-download: no policy or metadata fetched from a platform; the built-in checks only.
checkov --skip-download --framework kubernetes -f "$TMP/built.yaml" -o json \
  >"$TMP/result.json" 2>"$TMP/checkov.err"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
  echo "checkov[$LABEL]: checkov failed (exit $rc):"; sed 's/^/  | /' "$TMP/checkov.err"
  exit 1
fi
python3 "$REPO/.ci/checkov_report.py" "$TMP/result.json" "$LABEL" "$MAX"
