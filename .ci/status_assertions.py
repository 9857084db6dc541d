"""Assertions on a process's exit status that would fail saying only `left: Some(0) right:
Some(2)`: every `assert!`, `assert_eq!` and `assert_ne!` in the Rust files under DIR (recursively)
whose arguments mention `status` and that carry no message. Such a failure names neither the
command nor what it printed; `common::Ran` (`cmd.ran()`, then `o.code(2)` or `o.success()`, or a
message with `o.said()`) says both. Macros in comments and string literals are not counted.

Prints `file:line: the arguments` for each one found and exits 1; exits 0 when there is none.
tests/scripts.rs runs it on tests/.

Usage: python3 .ci/status_assertions.py [DIR]   (default: tests)
"""
import os
import re
import sys

ASSERT = re.compile(r"\bassert(_eq|_ne)?!\(")
# Arguments an assertion takes before its message.
BEFORE_MESSAGE = {None: 1, "_eq": 2, "_ne": 2}


def skip_literal(s, i):
    """If a string, char literal or comment starts at s[i], the index just past it; else None."""
    c = s[i]
    if s.startswith("//", i):
        end = s.find("\n", i)
        return len(s) if end < 0 else end
    if s.startswith("/*", i):
        depth, j = 0, i
        while j < len(s):
            if s.startswith("/*", j):
                depth, j = depth + 1, j + 2
            elif s.startswith("*/", j):
                depth, j = depth - 1, j + 2
                if depth == 0:
                    return j
            else:
                j += 1
        return len(s)
    raw = re.match(r'b?r(#*)"', s[i:])
    if raw and (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "_")):
        close = '"' + raw.group(1)
        end = s.find(close, i + raw.end())
        return len(s) if end < 0 else end + len(close)
    if c == '"':
        j = i + 1
        while j < len(s) and s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        return j + 1
    if c == "'":
        # A char literal ('x', '\n', '\u{1F600}'), not a lifetime ('a).
        if s.startswith("\\", i + 1):
            end = s.find("'", i + 3)
            return len(s) if end < 0 else end + 1
        if i + 2 < len(s) and s[i + 2] == "'":
            return i + 3
    return None


def code_positions(s):
    """The indices of s that are code: outside comments, strings and char literals."""
    code, i = [], 0
    while i < len(s):
        end = skip_literal(s, i)
        if end is None:
            code.append(i)
            i += 1
        else:
            i = end
    return code


def arguments(s, i):
    """The top-level arguments of the call whose `(` is s[i]."""
    depth, start, out, j = 0, i + 1, [], i
    while j < len(s):
        end = skip_literal(s, j)
        if end is not None:
            j = end
            continue
        c = s[j]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                out.append(s[start:j])
                break
        elif c == "," and depth == 1:
            out.append(s[start:j])
            start = j + 1
        j += 1
    return [a for a in out if a.strip()]


def findings(path):
    """(line, arguments) of each assertion on a status without a message in one file."""
    with open(path, encoding="utf-8") as f:
        s = f.read()
    code = set(code_positions(s))
    for m in ASSERT.finditer(s):
        if m.start() not in code:
            continue
        args = arguments(s, m.end() - 1)
        if len(args) <= BEFORE_MESSAGE[m.group(1)] and "status" in "".join(args):
            yield s.count("\n", 0, m.start()) + 1, " ".join(" ".join(args).split())


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "tests"
    found = 0
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            for line, args in findings(path):
                print(f"{path}:{line}: {args[:100]}")
                found += 1
    if found:
        print(
            f"{found} assertions on an exit status carry no message: use common::Ran",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
