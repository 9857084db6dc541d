"""checkov's JSON result as .ci/checkov.sh reports it: no failed check, skips counted per workload.

Usage: python3 .ci/checkov_report.py RESULT_JSON LABEL [MAX]

RESULT_JSON is `checkov --framework kubernetes -o json` output; LABEL is shown on every line; MAX
(empty or absent: no limit) is the most skipped checks allowed per resource. Prints
`FAIL LABEL CHECK RESOURCE: NAME` per failed check, `SKIP LABEL RESOURCE CHECK (NAME): REASON`
per skipped check (the reason is the suppress comment, i.e. the spec's reason), then
`SKIPS LABEL RESOURCE: N skipped` per resource (`OVER` when above MAX) and a summary line.
Exit 1 on any failed check or resource over MAX, else 0.
"""

import collections
import json
import sys

path, label = sys.argv[1], sys.argv[2]
limit = sys.argv[3] if len(sys.argv) > 3 else ""
data = json.load(open(path))
if isinstance(data, list):
    data = next((d for d in data if d.get("check_type") == "kubernetes"), data[0] if data else {})
res = data.get("results", {}) if isinstance(data, dict) else {}
failed = res.get("failed_checks", [])
skipped = res.get("skipped_checks", [])
passed = res.get("passed_checks", [])
bad = 0
for c in failed:
    bad += 1
    print(f"FAIL {label} {c['check_id']} {c['resource']}: {c['check_name']}")
per = collections.Counter()
for c in sorted(skipped, key=lambda c: (c["resource"], c["check_id"])):
    per[c["resource"]] += 1
    reason = (c.get("check_result") or {}).get("suppress_comment", "")
    print(f"SKIP {label} {c['resource']} {c['check_id']} ({c['check_name']}): {reason}")
for r, n in sorted(per.items()):
    over = limit and n > int(limit)
    if over:
        bad += 1
    print(f"{'OVER' if over else 'SKIPS'} {label} {r}: {n} skipped{f' (at most {limit})' if limit else ''}")
print(f"checkov[{label}]: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
sys.exit(1 if bad else 0)
