#!/usr/bin/env bash
# benches/hostile.sh -- time and memory of `validate` and `render` on hostile inputs under 1 MB
# (each found to take seconds or gigabytes once): the worst must stay under 1 s and 100 MB.
#
# Usage: bash benches/hostile.sh [BINARY]     (default target/release/misp-gen; build it first)
# Prints one line per input and command, then the worst; exits 1 when a bound is broken.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/misp-gen}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'EOF'
import sys
w = sys.argv[1]
head = "apiVersion: misp-gen/v1\nname: x\nservices:\n"
def put(name, text):
    assert len(text.encode()) < 1_000_000, (name, len(text))
    open(f"{w}/{name}.yaml", "w").write(text)
# 20 000 unknown fields on one line (every error's excerpt is that line)
put("one-line-errors", head + "  web: { image: docker.io/library/nginx:1.27, " + ", ".join(f"b{i}: 1" for i in range(20000)) + " }\n")
# 30 000 unknown fields, one a line
put("unknown-fields", head + "  web:\n    image: docker.io/library/nginx:1.27\n" + "".join(f"    bogus{i}: 1\n" for i in range(30000)))
# did-you-mean over long names: 900 unknown keys of 1000 characters
put("long-names", head + "  web:\n    image: docker.io/library/nginx:1.27\n" + "".join(f"    {'i' * 990}{i:05d}: 1\n" for i in range(900)))
# 2 000 aliases of a 100 KB scalar
put("alias-bytes", "x: &big " + "a" * 100_000 + "\n" + head + "  web:\n    image: docker.io/library/nginx:1.27\n    command: [" + ", ".join(["*big"] * 2000) + "]\n")
# one 100 KB key
put("long-key", head + "  " + "k" * 100_000 + ":\n    image: docker.io/library/nginx:1.27\n")
# a billion laughs
lol = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))
put("billion-laughs", lol + head + "  web: { image: docker.io/library/nginx:1.27 }\n")
# 5 000 services that are fine (a large valid spec: validate and render)
put("many-services", head + "".join(f"  s{i}:\n    image: docker.io/library/nginx:1.27.3\n    ports: [{{ name: http, port: 80 }}]\n" for i in range(5000)))
EOF

worst_s=0 worst_kb=0 worst_what="" fail=0
measure() { # LABEL COMMAND...
  local label=$1 t
  shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>&1 || true
  t=$(tail -n1 "$work/time")
  local s=${t% *} kb=${t#* }
  printf '%-40s %6ss %8s KB\n' "$label" "$s" "$kb"
  if awk -v a="$s" -v b="$worst_s" 'BEGIN { exit !(a > b) }'; then worst_s=$s; worst_what=$label; fi
  [ "$kb" -gt "$worst_kb" ] && worst_kb=$kb
  if awk -v a="$s" 'BEGIN { exit !(a >= 1) }' || [ "$kb" -ge 102400 ]; then fail=1; fi
}
for f in "$work"/*.yaml; do
  n=$(basename "$f" .yaml)
  measure "validate $n" "$bin" validate "$f"
  measure "render $n" "$bin" render "$f" --out "$work/out-$n"
done
echo "worst: ${worst_s}s ($worst_what), ${worst_kb} KB; bounds 1 s and 102400 KB"
exit "$fail"
