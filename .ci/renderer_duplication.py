"""Lines that two targets' renderers repeat: runs of MIN or more identical lines (trimmed; blank,
comment, punctuation-only and `use` lines skipped) shared between the renderer of one target
(src/render/compose, src/render/kubernetes, src/render/systemd) and that of another. Prints each
run (its length, where it stands, the file that repeats it) and `total N`, the lines counted once
on the side that repeats them. tests/scripts.rs holds the total under 150.

Usage: python3 .ci/renderer_duplication.py [REPO] [MIN]   (default: the current directory, 4)
"""
import glob
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
MIN = int(sys.argv[2]) if len(sys.argv) > 2 else 4


def target(p):
    for t in ("compose", "kubernetes", "systemd"):
        if f"/render/{t}/" in p or p.endswith(f"/render/{t}.rs"):
            return t
    return None


files = sorted(p for p in glob.glob(root + "/src/render/**/*.rs", recursive=True) if target(p))


def lines(p):
    out = []
    with open(p, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("//") or s.startswith("use ") or re.fullmatch(r"[{}()\[\];,.]*", s):
                continue
            out.append((i, s))
    return out


text = {p: lines(p) for p in files}
rows = []
total = 0
for a in files:
    for b in files:
        if a >= b or target(a) == target(b):
            continue
        la, lb = text[a], text[b]
        starts = {}
        for j in range(len(lb) - MIN + 1):
            starts.setdefault(tuple(x[1] for x in lb[j:j + MIN]), []).append(j)
        i = 0
        while i <= len(la) - MIN:
            best = 0
            for j in starts.get(tuple(x[1] for x in la[i:i + MIN]), []):
                k = MIN
                while i + k < len(la) and j + k < len(lb) and la[i + k][1] == lb[j + k][1]:
                    k += 1
                best = max(best, k)
            if best:
                rel = lambda p: p.split("src/render/")[1]
                rows.append((best, f"{rel(a)}:{la[i][0]}-{la[i + best - 1][0]}", rel(b)))
                total += best
                i += best
            else:
                i += 1
for n, where, other in sorted(rows, reverse=True):
    print(f"{n:3} lines  {where}  ~ {other}")
print(f"total {total}")
