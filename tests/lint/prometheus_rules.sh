#!/usr/bin/env bash
# deploy/prometheus-rules.yml: promtool check rules, then its unit tests
# (promtool test rules tests/lint/prometheus-rules.test.yml); the dashboard
# deploy/grafana-dashboard.json parses and every panel has a query.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v promtool >/dev/null || { echo "FAIL: promtool is missing (scripts/install-deps.sh installs Debian's prometheus)"; exit 1; }
promtool check rules "$root/deploy/prometheus-rules.yml"
(cd "$here" && promtool test rules prometheus-rules.test.yml)
python3 - "$root/deploy/grafana-dashboard.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
panels = d["panels"]
bad = [p["title"] for p in panels if not p.get("targets") or not all(t.get("expr") for t in p["targets"])]
if bad or len(panels) < 6:
    sys.exit(f"FAIL: dashboard: panels without a query: {bad} ({len(panels)} panels)")
print(f"ok: dashboard: {len(panels)} panels, each with its queries")
PY
