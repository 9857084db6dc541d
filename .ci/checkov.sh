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
python3 - "$TMP/result.json" "$LABEL" "$MAX" <<'PY'
import collections, json, sys
path, label, limit = sys.argv[1], sys.argv[2], sys.argv[3]
data = json.load(open(path))
if isinstance(data, list):
    data = next((d for d in data if d.get("check_type") == "kubernetes"), data[0] if data else {})
res = data.get("results", {}) if isinstance(data, dict) else {}
failed = res.get("failed_checks", [])
skipped = res.get("skipped_checks", [])
passed = res.get("passed_checks", [])
bad = 0
for c in failed:
    bad += 1
    print(f"FAIL {label} {c['check_id']} {c['resource']}: {c['check_name']}")
per = collections.Counter()
for c in sorted(skipped, key=lambda c: (c["resource"], c["check_id"])):
    per[c["resource"]] += 1
    reason = (c.get("check_result") or {}).get("suppress_comment", "")
    print(f"SKIP {label} {c['resource']} {c['check_id']} ({c['check_name']}): {reason}")
for r, n in sorted(per.items()):
    over = limit and n > int(limit)
    if over:
        bad += 1
    print(f"{'OVER' if over else 'SKIPS'} {label} {r}: {n} skipped{f' (at most {limit})' if limit else ''}")
print(f"checkov[{label}]: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
sys.exit(1 if bad else 0)
PY
