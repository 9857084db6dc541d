#!/usr/bin/env bash
# .ci/conformance.sh DIR [LABEL] -- runs the external validators on one rendered output dir.
#
#   DIR    a misp-gen output dir (DIR/compose, DIR/kubernetes, DIR/systemd, DIR/SHA256SUMS, ...)
#   LABEL  a short name shown on every line (default: basename of DIR)
#
# Each applicable check prints one line `PASS LABEL check`. A check FAILS if its tool
# exits non-zero OR prints anything (several tools only warn with exit 0); then the command and
# the tool's full output are printed. Exit status: 0 if every check passed, 1 if any failed,
# 2 on bad usage / missing tools.
#
# Tools come from $MISP_GEN_TOOLS, then REPO/target/ci-tools (see .ci/tools.sh: `source
# .ci/tools.sh && misp_gen_tools_install`), then PATH, and must be as new as .ci/min-versions
# says: the lookup of the tests (.ci/tool-lookup.sh).
#
# Knobs (environment):
#   MISP_GEN_QUADLET_USER=1        run quadlet in -user (rootless) mode instead of rootful
#   MISP_GEN_SA_RECURSIVE=no|one|yes  systemd-analyze --recursive-errors (default: one, which also
#                                  fails on Requires=/BindsTo= naming a unit that does not exist)
#   MISP_GEN_CONFORMANCE_KEEP=1    keep the temp dir (kustomize output, quadlet output, fake root)
#   MISP_GEN_CONFORMANCE_SKIP="PATTERN ..."  skip the checks whose names match one of these shell
#                                  patterns, separated by blanks (e.g. `kubernetes/kustomize
#                                  systemd/security*`; a check's name is what PASS prints), each
#                                  printed as `SKIP LABEL check`: .ci/run skips what `cargo test`
#                                  already ran on the same output. Skipping kubernetes/kustomize
#                                  skips kubernetes/validate-kustomized too (it validates that build).

set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
  echo "usage: $0 DIR [LABEL]   (DIR: a rendered misp-gen output dir)" >&2
  exit 2
fi
DIR=$(cd "$1" && pwd)
LABEL=${2:-$(basename "$DIR")}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The tests' lookup: the tool directories first, and the minimum versions of .ci/min-versions.
# shellcheck source=SCRIPTDIR/tool-lookup.sh
source "$REPO/.ci/tool-lookup.sh"
PATH=$(misp_gen_tool_path "$REPO")
export PATH

YAMLLINT_CONFIG='{extends: default, rules: {document-start: disable, line-length: {max: 200}, truthy: {check-keys: false}, indentation: {spaces: consistent, indent-sequences: whatever}}}'
K8S_VERSION=1.32.0
SA_RECURSIVE=${MISP_GEN_SA_RECURSIVE:-one}
QUADLET_MODE=()
[ "${MISP_GEN_QUADLET_USER:-0}" = 1 ] && QUADLET_MODE=(-user)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/misp-gen-conformance.XXXXXX")
if [ "${MISP_GEN_CONFORMANCE_KEEP:-0}" = 1 ]; then
  echo "conformance[$LABEL]: temp dir kept: $TMP"
else
  trap 'rm -rf "$TMP"' EXIT
fi

npass=0
nfail=0
failed=()

_quote() { local a out=""; for a in "$@"; do out+="$(printf '%q' "$a") "; done; printf '%s' "${out% }"; }

_pass() { npass=$((npass + 1)); printf 'PASS %s %s\n' "$LABEL" "$1"; }

# Whether the check NAME is to be skipped (MISP_GEN_CONFORMANCE_SKIP).
read -r -a _skip_patterns <<<"${MISP_GEN_CONFORMANCE_SKIP:-}"
nskip=0
is_skipped() {
  local pat
  for pat in "${_skip_patterns[@]}"; do
    # shellcheck disable=SC2053 # the pattern is matched as a glob on purpose
    [[ $1 == $pat ]] && return 0
  done
  return 1
}
_skip() { nskip=$((nskip + 1)); printf 'SKIP %s %s\n' "$LABEL" "$1"; }

# _fail NAME COMMAND-TEXT RC OUTPUT-FILE [REASON]
_fail() {
  nfail=$((nfail + 1))
  failed+=("$1")
  printf 'FAIL %s %s (exit %s%s)\n  command: %s\n' "$LABEL" "$1" "$3" "${5:+, $5}" "$2"
  if [ -s "$4" ]; then
    sed 's/^/  | /' "$4"
  else
    echo "  | (no output)"
  fi
}

# check NAME [--ok-lines REGEX] [--stdout-is-data] [--cwd D] -- CMD...
#   Passes iff CMD exits 0 and prints nothing on stdout+stderr, apart from lines that match
#   REGEX (the few tools that always say something on success). With --stdout-is-data, stdout is
#   the tool's product (not a diagnostic): only stderr counts, stdout is shown on failure.
check() {
  local name=$1 ok_re="" cwd="" out rc=0 data=0
  shift
  if is_skipped "$name"; then
    _skip "$name"
    return 0
  fi
  while [ $# -gt 0 ]; do
    case $1 in
      --ok-lines) ok_re=$2; shift 2 ;;
      --stdout-is-data) data=1; shift ;;
      --cwd) cwd=$2; shift 2 ;;
      --) shift; break ;;
      *) echo "check: bad option $1" >&2; exit 2 ;;
    esac
  done
  out=$TMP/out.$npass.$nfail
  local so=$out
  [ $data = 1 ] && so=$out.stdout
  if [ $data = 1 ]; then
    (if [ -n "$cwd" ]; then cd "$cwd" || exit 125; fi; exec "$@" >"$so" 2>"$out" </dev/null) || rc=$?
  else
    (if [ -n "$cwd" ]; then cd "$cwd" || exit 125; fi; exec "$@" >"$out" 2>&1 </dev/null) || rc=$?
  fi
  local extra
  if [ -n "$ok_re" ]; then
    extra=$(grep -Ev -- "$ok_re" "$out" | grep -c . || true)
  else
    extra=$(grep -c '' "$out" || true)
  fi
  if [ "$rc" -ne 0 ]; then
    _fail "$name" "$(_quote "$@")" "$rc" "$out"
  elif [ "$extra" -ne 0 ]; then
    _fail "$name" "$(_quote "$@")" "$rc" "$out" "printed output"
  else
    _pass "$name" "$(_quote "$@")"
    return 0
  fi
  if [ $data = 1 ] && [ -s "$so" ]; then
    echo "  stdout of the command:"
    sed 's/^/  > /' "$so"
  fi
  return 0
}

# Records a failure found by this script itself (not by a tool).
fail_msg() {
  local name=$1 cmd=$2 msg=$3 f=$TMP/msg.$npass.$nfail
  printf '%s\n' "$msg" >"$f"
  _fail "$name" "$cmd" 1 "$f"
}

missing_tools=()
need() {
  local t why
  for t in "$@"; do
    if ! command -v "$t" >/dev/null 2>&1; then
      missing_tools+=("$t")
    elif why=$(misp_gen_too_old "$t"); then
      missing_tools+=("$t (too old: $why)")
    fi
  done
}

have_compose=0 have_k8s=0 have_quadlet=0 have_units=0
_q=() _u=()
[ -f "$DIR/compose/compose.yaml" ] && have_compose=1
[ -f "$DIR/kubernetes/kustomization.yaml" ] && have_k8s=1
if [ -d "$DIR/systemd" ]; then
  shopt -s nullglob
  for _e in container volume network pod kube image build; do _q+=("$DIR"/systemd/*."$_e"); done
  for _e in service target socket timer path mount slice; do _u+=("$DIR"/systemd/*."$_e"); done
  shopt -u nullglob
  [ ${#_q[@]} -gt 0 ] && have_quadlet=1
  [ ${#_u[@]} -gt 0 ] && have_units=1
fi

[ $have_compose = 1 ] && need docker-compose check-jsonschema yamllint python3
[ $have_k8s = 1 ] && need kubectl kubernetes-validate yamllint python3
[ $have_quadlet = 1 ] && need quadlet
[ $((have_quadlet + have_units)) -gt 0 ] && need systemd-analyze
[ -f "$DIR/SHA256SUMS" ] && need sha256sum
if [ ${#missing_tools[@]} -gt 0 ]; then
  echo "conformance[$LABEL]: missing tools: ${missing_tools[*]} (run: source .ci/tools.sh && misp_gen_tools_install)" >&2
  exit 2
fi

if [ $((have_compose + have_k8s + have_quadlet + have_units)) = 0 ]; then
  echo "conformance[$LABEL]: nothing to check in $DIR (no compose/compose.yaml, kubernetes/kustomization.yaml or systemd units)" >&2
  exit 1
fi

yamllint_cmd=(yamllint -s -d "$YAMLLINT_CONFIG")

# ---------------------------------------------------------------- compose
if [ $have_compose = 1 ]; then
  C=$DIR/compose
  # A clean environment: no COMPOSE_* / DOCKER_* from the caller, and no variable of the caller's
  # shell may satisfy a ${VAR} in the file (an unset one makes compose warn -> failure).
  # The project dir is DIR/compose, so a DIR/compose/.env is still read, as `docker compose` would.
  compose_env=(env -i "PATH=$PATH" "HOME=$TMP/home")
  mkdir -p "$TMP/home"
  check compose/config --cwd "$C" -- \
    "${compose_env[@]}" docker-compose --project-directory "$C" -f "$C/compose.yaml" config -q
  # `config -q` does not notice a secrets:/configs: `file:` that does not exist: check the paths
  # compose resolved.
  if "${compose_env[@]}" docker-compose --project-directory "$C" -f "$C/compose.yaml" config \
      --format json >"$TMP/compose.json" 2>/dev/null; then
    check compose/files-exist -- python3 "$REPO/.ci/compose_files.py" "$TMP/compose.json"
  fi
  check compose/jsonschema --ok-lines '^ok -- validation done$' -- \
    check-jsonschema --builtin-schema vendor.compose-spec "$C/compose.yaml"
  mapfile -t cy < <(find "$C" -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
  check compose/yamllint -- "${yamllint_cmd[@]}" "${cy[@]}"
fi

# ---------------------------------------------------------------- kubernetes
if [ $have_k8s = 1 ]; then
  K=$DIR/kubernetes
  kout=$TMP/kustomize.yaml
  # kustomize writes the build to stdout; warnings (deprecated fields) go to stderr with exit 0.
  krc=0
  if is_skipped kubernetes/kustomize; then
    krc=-1
    _skip kubernetes/kustomize
    _skip kubernetes/validate-kustomized
  else
    kubectl kustomize "$K" >"$kout" 2>"$TMP/kustomize.err" </dev/null || krc=$?
  fi
  if [ $krc -eq -1 ]; then
    :
  elif [ $krc -ne 0 ]; then
    _fail kubernetes/kustomize "$(_quote kubectl kustomize "$K")" $krc "$TMP/kustomize.err"
  elif [ -s "$TMP/kustomize.err" ]; then
    _fail kubernetes/kustomize "$(_quote kubectl kustomize "$K")" $krc "$TMP/kustomize.err" "printed output"
  elif [ ! -s "$kout" ]; then
    fail_msg kubernetes/kustomize "$(_quote kubectl kustomize "$K")" "kustomize produced no resources"
  else
    _pass kubernetes/kustomize "$(_quote kubectl kustomize "$K")"
  fi
  # Resource files: every *.yaml/*.yml directly in DIR/kubernetes except the kustomization itself
  # and files that a configMapGenerator/secretGenerator reads as data.
  mapfile -t kres < <(python3 "$REPO/.ci/kustomize_resources.py" "$K")
  if [ ${#kres[@]} -gt 0 ]; then
    check kubernetes/validate-files -- kubernetes-validate --strict --quiet -k "$K8S_VERSION" "${kres[@]}"
  fi
  if [ $krc -eq 0 ] && [ -s "$kout" ]; then
    # kubernetes-validate handles multi-document files itself (one result per resource).
    check kubernetes/validate-kustomized -- kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$kout"
  fi
  mapfile -t ky < <(find "$K" -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
  check kubernetes/yamllint -- "${yamllint_cmd[@]}" "${ky[@]}"
fi

# ---------------------------------------------------------------- systemd
if [ $((have_quadlet + have_units)) -gt 0 ]; then
  S=$DIR/systemd
  # Fake root for systemd-analyze: the distro's units, container engines as stubs.
  R=$TMP/root
  mkdir -p "$R/usr/lib/systemd" "$R/usr/bin" "$R/usr/sbin" "$R/etc/systemd/system"
  cp -a /lib/systemd/system "$R/usr/lib/systemd/"
  ln -s usr/bin "$R/bin"
  ln -s usr/sbin "$R/sbin"
  ln -s usr/lib "$R/lib"
  for b in podman docker; do
    printf '#!/bin/sh\nexit 0\n' >"$R/usr/bin/$b"
    chmod 0755 "$R/usr/bin/$b"
  done
  U=$R/etc/systemd/system

  if [ $have_quadlet = 1 ]; then
    # Dry run prints the generated units on stdout and one "Loading source unit file" line per
    # source on stderr; anything else on stderr (unsupported key, missing Image=, unknown
    # .volume/.network reference) is a failure. Exit is 1 on a conversion error.
    check systemd/quadlet-dryrun --stdout-is-data \
      --ok-lines '^quadlet-generator\[[0-9]+\]: Loading source unit file ' -- \
      env QUADLET_UNIT_DIRS="$S" quadlet "${QUADLET_MODE[@]}" -dryrun
    mkdir -p "$TMP/quadlet"
    # Generator mode prints nothing at all on success.
    check systemd/quadlet-generate -- \
      env QUADLET_UNIT_DIRS="$S" quadlet "${QUADLET_MODE[@]}" -no-kmsg-log "$TMP/quadlet"
    shopt -s nullglob
    for f in "$TMP"/quadlet/*.service; do cp "$f" "$U/"; done
    shopt -u nullglob
  fi

  clash=()
  for f in "${_u[@]}"; do
    [ -e "$U/$(basename "$f")" ] && clash+=("$(basename "$f")")
    cp -p "$f" "$U/"
  done
  if [ ${#clash[@]} -gt 0 ]; then
    fail_msg systemd/names "cp $S/*.service $U/" \
      "unit names generated by quadlet clash with unit files in $S: ${clash[*]}"
  fi

  # Other absolute or bare commands in Exec*= lines: stub them only when this host has them
  # (a typo'd binary path must still fail "is not executable").
  while IFS= read -r cmd; do
    case $cmd in
      /*) if [ ! -e "$R$cmd" ] && [ -x "$cmd" ] && [ ! -d "$cmd" ]; then
            mkdir -p "$R$(dirname "$cmd")"
            printf '#!/bin/sh\nexit 0\n' >"$R$cmd"
            chmod 0755 "$R$cmd"
          fi ;;
      */*) ;;
      ?*) if [ ! -e "$R/usr/bin/$cmd" ] && [ ! -e "$R/usr/sbin/$cmd" ]; then
            for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin; do
              if [ -x "$d/$cmd" ]; then
                printf '#!/bin/sh\nexit 0\n' >"$R/usr/bin/$cmd"
                chmod 0755 "$R/usr/bin/$cmd"
                break
              fi
            done
          fi ;;
    esac
  done < <(sed -n 's/^[[:space:]]*Exec[A-Za-z]*=[[:space:]]*[-@:+!|]*\([^[:space:]]*\).*/\1/p' "$U"/* 2>/dev/null | sort -u)

  mapfile -t units < <(find "$U" -maxdepth 1 -type f | sort)
  if [ ${#units[@]} -gt 0 ]; then
    check systemd/analyze-verify -- \
      systemd-analyze verify --man=no --generators=no --recursive-errors="$SA_RECURSIVE" --root="$R" "${units[@]}"
  fi

  # Sandboxing of the helper units that run no container (network and volume creation; for
  # Quadlet, the units quadlet generated from the .network and .volume files): each must score 4.0
  # or lower. One line per unit: `SECURITY LABEL UNIT SCORE`.
  shopt -s nullglob
  helpers=("$U"/*-network.service "$U"/*-volume.service)
  shopt -u nullglob
  for f in "${helpers[@]}"; do
    unit=$(basename "$f")
    if is_skipped "systemd/security $unit"; then
      _skip "systemd/security $unit"
      continue
    fi
    sa=(systemd-analyze security --offline=true --no-pager --root="$R" "$unit")
    sout=$TMP/security.$unit
    "${sa[@]}" >"$sout" 2>&1
    score=$(sed -n 's/.*Overall exposure level for .*: \([0-9][0-9.]*\).*/\1/p' "$sout" | tail -n1)
    if [ -z "$score" ]; then
      _fail "systemd/security $unit" "$(_quote "${sa[@]}")" 1 "$sout" "no exposure level"
    elif awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }'; then
      printf 'SECURITY %s %s %s\n' "$LABEL" "$unit" "$score"
      _pass "systemd/security $unit"
    else
      printf 'SECURITY %s %s %s (over 4.0)\n' "$LABEL" "$unit" "$score"
      _fail "systemd/security $unit" "$(_quote "${sa[@]}")" 1 "$sout" "exposure $score is over 4.0"
    fi
  done
fi

# ---------------------------------------------------------------- checksums
if [ -f "$DIR/SHA256SUMS" ]; then
  check sha256sums --cwd "$DIR" -- sha256sum -c --quiet --strict SHA256SUMS
fi
if [ -f "$DIR/secrets/SHA256SUMS" ]; then
  check secrets/sha256sums --cwd "$DIR/secrets" -- sha256sum -c --quiet --strict SHA256SUMS
fi

skipped=""
[ $nskip -gt 0 ] && skipped=" ($nskip skipped)"
if [ $nfail -eq 0 ]; then
  echo "conformance[$LABEL]: OK, all $npass checks clean$skipped"
  exit 0
fi
echo "conformance[$LABEL]: FAILED $nfail of $((npass + nfail)) checks$skipped: ${failed[*]}"
exit 1
