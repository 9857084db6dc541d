"""Every `file:` of a Compose project's top-level secrets and configs exists.

Usage: python3 .ci/compose_files.py CONFIG_JSON

CONFIG_JSON is the output of `docker-compose config --format json` (paths already resolved by
Compose). `config -q` does not notice a secrets:/configs: `file:` that does not exist, so
.ci/conformance.sh checks them with this. Prints one line per missing file; exit 1 if any is
missing, else 0 with no output.
"""

import json
import os
import sys

cfg = json.load(open(sys.argv[1]))
bad = []
for top in ("secrets", "configs"):
    for name, spec in (cfg.get(top) or {}).items():
        f = (spec or {}).get("file")
        if f and not os.path.exists(f):
            bad.append(f"{top}.{name}.file: {f} does not exist")
for line in bad:
    print(line)
sys.exit(1 if bad else 0)
