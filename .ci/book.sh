#!/usr/bin/env bash
# .ci/book.sh -- build the book (docs/) with mdBook and check every link in it.
#
# Installs mdbook MDBOOK_VERSION from crates.io with cargo into target/ci-tools (or
# $MISP_GEN_TOOLS) unless that version is already there, checks that every chapter SUMMARY.md lists
# exists, runs `mdbook build docs` (into docs/book/, not committed), then .ci/book_links.py over the
# HTML: every relative link must reach a file and every #anchor a heading of its page. Exit 1 on
# any missing chapter, build error or broken link (each one listed), 2 on a missing tool.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# 0.5.4 needs rustc 1.88; built here with 1.95. Without the `serve` and `watch` features: CI only
# builds, and those pull in an HTTP server and a file watcher.
MDBOOK_VERSION=0.5.4
tools=${MISP_GEN_TOOLS:-$PWD/target/ci-tools}
mdbook=$tools/bin/mdbook

for t in cargo python3; do
  command -v "$t" >/dev/null 2>&1 || { echo "book: missing tool $t" >&2; exit 2; }
done
have=$("$mdbook" --version 2>/dev/null || true)
if [ "$have" != "mdbook v$MDBOOK_VERSION" ]; then
  echo "book: installing mdbook $MDBOOK_VERSION into $tools (${have:-none installed})"
  cargo install --quiet --locked --root "$tools" mdbook --version "$MDBOOK_VERSION" \
    --no-default-features --features search
fi

# Every chapter file SUMMARY.md names, all missing ones at once (mdbook stops at the first).
missing=0
while IFS= read -r chapter; do
  if [ ! -f "docs/src/$chapter" ]; then
    echo "book: docs/src/SUMMARY.md lists $chapter, which does not exist"
    missing=1
  fi
done < <(grep -o '](\([^)#]*\.md\))' docs/src/SUMMARY.md | sed 's/^](\(.*\))$/\1/')
[ "$missing" = 0 ] || exit 1

rm -rf docs/book
"$mdbook" build docs
python3 .ci/book_links.py docs/book
