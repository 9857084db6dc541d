#!/usr/bin/env bash
# Process-level benchmark: the misp-gen binary as users run it, against `cp -r` of its own output
# (the floor for any tool that writes these files), and how render time grows with services. The
# re-render of the MISP example has a goal of 10 ms; `cargo bench` prints that figure too, without
# hyperfine.
# Needs hyperfine (Debian: apt-get install hyperfine). Run from the crate root:
#   bash benches/cli.sh            # prints hyperfine's tables
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/misp-gen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

synthetic() { # N: a spec with N services in the shape of the MISP web service
  python3 benches/synthetic_spec.py "$1"
}

# A fresh render into a new directory with kept secrets (no key generation): what a render costs.
for profile in single-node ha; do
  "$bin" render examples/misp.yaml --profile "$profile" --out "$work/misp-$profile" 2>/dev/null
  files=$(cat "$work/misp-$profile/SHA256SUMS" "$work/misp-$profile/secrets/SHA256SUMS" | wc -l)
  echo "== MISP, $profile: $files files, all three targets"
  hyperfine -N --warmup 5 --runs 50 \
    --prepare "sh -c 'rm -rf $work/new && mkdir -p $work/new && cp -r $work/misp-$profile/secrets $work/new/'" \
    -n "misp-gen render (new dir)" "$bin render examples/misp.yaml --profile $profile --out $work/new" \
    -n "cp -r of its output" "cp -r $work/misp-$profile $work/new/copy" \
    -n "misp-gen render (re-render, nothing changes; goal <= 10 ms)" "$bin render examples/misp.yaml --profile $profile --out $work/misp-$profile" \
    -n "misp-gen validate" "$bin validate examples/misp.yaml --profile $profile"
done

echo "== scaling (all targets, new dir)"
for n in 10 100 1000; do
  synthetic "$n" > "$work/big$n.yaml"
  "$bin" render "$work/big$n.yaml" --out "$work/big$n" 2>/dev/null
done
hyperfine -N --warmup 1 --runs 5 \
  --prepare "sh -c 'rm -rf $work/n && mkdir -p $work/n'" \
  -n "10 services" "$bin render $work/big10.yaml --out $work/n/o10" \
  -n "100 services" "$bin render $work/big100.yaml --out $work/n/o100" \
  -n "1000 services" "$bin render $work/big1000.yaml --out $work/n/o1000" \
  -n "cp -r of the 1000-service output" "cp -r $work/big1000 $work/n/c1000"
