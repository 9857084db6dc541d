# shellcheck shell=bash
# .ci/tool-lookup.sh -- sourced: the external tools' lookup the .ci scripts share with the tests
# (tests/common/mod.rs): the same directories in the same order, the same minimum versions
# (.ci/min-versions).
#
#   misp_gen_tool_path REPO   prints PATH with the tool directories first: $MISP_GEN_TOOLS/venv/bin,
#                             $MISP_GEN_TOOLS/bin, REPO/target/ci-tools/venv/bin, REPO/target/ci-tools/bin
#   misp_gen_too_old NAME     with PATH set so: prints why the NAME on PATH is older than
#                             .ci/min-versions allows and returns 0; returns 1 when it is new
#                             enough or has no minimum

_MG_LOOKUP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

misp_gen_tool_path() {
  local repo=$1 p=""
  if [ -n "${MISP_GEN_TOOLS:-}" ]; then
    p="$MISP_GEN_TOOLS/venv/bin:$MISP_GEN_TOOLS/bin:"
  fi
  printf '%s%s\n' "$p" "$repo/target/ci-tools/venv/bin:$repo/target/ci-tools/bin:$PATH"
}

misp_gen_too_old() {
  local name=$1 min args said found
  read -r min args < <(awk -v n="$name" '$1 == n { $1 = ""; print; exit }' "$_MG_LOOKUP_DIR/min-versions")
  [ -n "${min:-}" ] || return 1
  # shellcheck disable=SC2086 # the arguments are words of .ci/min-versions
  said=$("$name" $args 2>&1 | head -n 3)
  found=$(grep -oE '[0-9]+\.[0-9]+' <<<"$said" | head -n 1)
  if [ -n "$found" ] && [ "$(printf '%s\n%s\n' "$min" "$found" | sort -V | head -n 1)" = "$min" ]; then
    return 1
  fi
  printf '%s is %s, older than %s (%s)\n' "$(command -v "$name")" "${found:-unknown}" "$min" "$(tr '\n' ' ' <<<"$said")"
  return 0
}
