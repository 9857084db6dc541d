#!/usr/bin/env bash
# benches/hostile.sh -- time and memory of `validate` and `render` on hostile inputs under 1 MB
# (each found to take seconds or gigabytes once), and on the largest spec misp-gen accepts (1 000
# services, 2 000 containers: E333 refuses more). The worst must stay under 1 s and 100 MB.
#
# A render that creates thousands of files also pays the file system for them, which no tool
# writing these files avoids and which varies with the file system's state (creating a file took
# 30 µs or 280 µs on the same disk, depending on how many had just been deleted). So each render
# that writes is followed by `cp -r` of its output, the floor, and the bound applies to the time
# beyond it; both are printed.
#
# Usage: bash benches/hostile.sh [BINARY]     (default target/release/misp-gen; build it first)
# Prints one line per input and command, then the worst; exits 1 when a bound is broken.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/misp-gen}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 benches/hostile_inputs.py "$work"

worst_s=0 worst_kb=0 worst_what="" fail=0
measure() { # LABEL OUT COMMAND...   (OUT: the directory the command creates, or -)
  local label=$1 out=$2 t floor=0
  shift 2
  if [ "$out" != - ]; then
    # The floor, just before: the same files written by cp under the same file-system conditions
    # (a render into a twin directory, then its copy; nothing deleted in between: deleting
    # thousands of files slows the creation of the next ones for a while).
    local twin=$out.twin
    "${@/#$out/$twin}" >/dev/null 2>&1 || true
    if [ -d "$twin" ]; then
      /usr/bin/time -f '%e' -o "$work/floor" cp -r "$twin" "$out.floor"
      floor=$(tail -n1 "$work/floor")
    fi
  fi
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>&1 || true
  t=$(tail -n1 "$work/time")
  local s=${t% *} kb=${t#* } own
  own=$(awk -v a="$s" -v b="$floor" 'BEGIN { d = a - b; if (d < 0) d = 0; printf "%.2f", d }')
  printf '%-40s %6ss (cp -r floor %5ss, own %5ss) %8s KB\n' "$label" "$s" "$floor" "$own" "$kb"
  if awk -v a="$own" -v b="$worst_s" 'BEGIN { exit !(a > b) }'; then worst_s=$own; worst_what=$label; fi
  [ "$kb" -gt "$worst_kb" ] && worst_kb=$kb
  if awk -v a="$own" 'BEGIN { exit !(a >= 1) }' || [ "$kb" -ge 102400 ]; then fail=1; fi
}
for f in "$work"/*.yaml; do
  n=$(basename "$f" .yaml)
  measure "validate $n" - "$bin" validate "$f"
  measure "render $n" "$work/out-$n" "$bin" render "$f" --out "$work/out-$n"
  measure "re-render $n" - "$bin" render "$f" --out "$work/out-$n"
done
f=$work/1000-services.yaml
measure "validate 1000-services --profile ha" - "$bin" validate "$f" --profile ha
measure "render 1000-services --profile ha" "$work/out-ha" "$bin" render "$f" --profile ha --out "$work/out-ha"
# The refusals must be refusals (E333), not slow successes.
for n in 5000-services 20000-replicas; do
  if "$bin" validate "$work/$n.yaml" >/dev/null 2>"$work/err" || ! grep -q E333 "$work/err"; then
    echo "$n: not refused with E333"; fail=1
  fi
done
echo "worst: ${worst_s}s beyond the cp -r floor ($worst_what), ${worst_kb} KB; bounds 1 s and 102400 KB"
exit "$fail"
