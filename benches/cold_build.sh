#!/usr/bin/env bash
# benches/cold_build.sh -- the first `cargo build --release` a newcomer waits for, before and after a
# change, in one run: each revision is checked out into a temporary worktree and built with an
# empty target directory (the crates already downloaded: a build, not a download). Prints wall
# time and CPU time (user + system, which load on the machine changes less), and which C
# libraries were compiled (build scripts of *-sys crates and ring).
# Usage: bash benches/cold_build.sh BEFORE_REV AFTER_REV
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 BEFORE_REV AFTER_REV" >&2; exit 2; }
work=$(mktemp -d)
cleanup() {
  for d in "$work"/src-*; do [ -d "$d" ] && git worktree remove --force "$d" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT
for rev in "$@"; do
  src=$work/src-$rev
  git worktree add --detach --quiet "$src" "$rev"
  cargo fetch --quiet --locked --manifest-path "$src/Cargo.toml"
  # `time -f` is GNU time; bash's TIMEFORMAT gives the same three figures without it.
  TIMEFORMAT='%R %U %S'
  { time CARGO_TARGET_DIR=$work/target-$rev cargo build --quiet --release --locked \
      --manifest-path "$src/Cargo.toml" 2>"$work/build-$rev.log"; } 2>"$work/time-$rev"
  read -r real user sys <"$work/time-$rev"
  c_libs=$(find "$work/target-$rev/release/build" -maxdepth 1 -type d \( -name '*-sys-*' -o -name 'ring-*' \) \
    -printf '%f\n' | sed 's/-[0-9a-f]*$//' | sort -u | tr '\n' ' ')
  size=$(stat -c %s "$work/target-$rev/release/misp-gen")
  printf 'cold build %-12s wall %6.1f s  cpu %6.1f s  binary %5.1f MiB  C libraries: %s\n' \
    "$rev" "$real" "$(echo "$user + $sys" | bc)" "$(echo "scale=1; $size / 1048576" | bc)" "${c_libs:-none}"
done
