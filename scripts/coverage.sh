#!/usr/bin/env bash
# Line, function and branch coverage of the unit and integration suites in
# a --coverage build (IDGOV_COVERAGE), by folder and in total, with gcovr.
# Tests and benchmarks are not counted.
#
#   scripts/coverage.sh BUILD_DIR     after ctest has run in BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: coverage.sh BUILD_DIR}
json=$build/coverage.json
gcovr -r . --object-directory "$build" -e 'tests/' -e 'bench/' \
	--json-summary "$json" --json-summary-pretty >/dev/null
python3 - "$json" <<'PY'
import json, sys
from collections import defaultdict

files = json.load(open(sys.argv[1]))["files"]
keys = ("line", "function", "branch")
by = defaultdict(lambda: {k: [0, 0] for k in keys})
for f in files:
    parts = f["filename"].split("/")
    folder = "/".join(parts[:2]) if parts[0] == "idgov" and len(parts) > 2 else parts[0]
    for k in keys:
        for name in (folder, "TOTAL"):
            by[name][k][0] += f[k + "_covered"]
            by[name][k][1] += f[k + "_total"]

def cell(c, t):
    return f"{c:>6}/{t:<6} {100.0 * c / t if t else 100.0:5.1f}%"

print(f"{'folder':<20} {'lines':>20} {'functions':>20} {'branches':>20}")
for name in sorted(n for n in by if n != "TOTAL") + ["TOTAL"]:
    print(f"{name:<20} " + " ".join(f"{cell(*by[name][k]):>20}" for k in keys))
PY
