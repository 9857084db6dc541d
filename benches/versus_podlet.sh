#!/usr/bin/env bash
# Issue 24's speed goals, measured with the competitor in the same run: misp-gen against podlet
# 0.3.2 (Compose to Quadlet, one target) on the same 1 000 services, misp-gen validate of those,
# a re-render with no change against a fresh render, and the MISP example's re-render (wall).
# Prints one table (median user and system CPU and wall time of RUNS runs per command) and PASS or NOT YET per
# goal; a goal not met does not fail the run (they are goals for later work). Exit 2 only when a
# tool cannot be built, installed or run.
# Needs python3 and cargo; podlet is installed once into target/ci-tools with cargo. From the
# crate root:
#   bash benches/versus_podlet.sh            # RUNS=20 by default
#   RUNS=50 bash benches/versus_podlet.sh
#   TMPDIR=/dev/shm bash benches/versus_podlet.sh   # on tmpfs: the tools without the disk's file system
# Each fresh render gets a new directory and nothing is deleted before the end (see
# benches/versus_podlet.py): about 1 GB of small files in the work directory at RUNS=20.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 2; }

cargo build --release --quiet || { echo "cargo build --release failed" >&2; exit 2; }
bin=$PWD/target/release/misp-gen

podlet=$PWD/target/ci-tools/bin/podlet
if ! [ -x "$podlet" ] || [ "$("$podlet" --version 2>/dev/null)" != "podlet 0.3.2" ]; then
  echo "installing podlet 0.3.2 into target/ci-tools (once)" >&2
  cargo install --quiet --locked --root target/ci-tools podlet --version 0.3.2 \
    || { echo "cannot install podlet 0.3.2 (cargo install --locked --root target/ci-tools podlet --version 0.3.2)" >&2; exit 2; }
fi
for tool in "$bin" "$podlet"; do
  "$tool" --version || { echo "$tool does not run" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 benches/synthetic_spec.py 1000 >"$work/big.yaml"
python3 benches/synthetic_spec.py --compose 1000 >"$work/big-compose.yaml"
python3 benches/versus_podlet.py "$bin" "$podlet" "$work" "$PWD/examples/misp.yaml" "$runs"
