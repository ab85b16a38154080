#!/usr/bin/env python3
"""The metrics the dashboard and the alert rules query exist.

Usage: metric_names.py METRICS_FILE [--optional PREFIX ...] FILE...
FILEs: deploy/grafana-dashboard.json (the panels' exprs) and
deploy/prometheus-rules.yml (the rules' exprs). Every metric name in an
expression (zeroseg_* and process_*) must be a sample of METRICS_FILE, a
real agent's /metrics. Names under an --optional PREFIX (zeroseg_cluster_
for an agent that is not in cluster mode) may be missing; each one that is
is printed. Fails when it found no name at all.
"""
import json
import re
import sys

NAME = re.compile(r"\b((?:zeroseg|process)_[a-zA-Z0-9_]+)")


def exprs(path):
    text = open(path).read()
    if path.endswith(".json"):
        d = json.loads(text)
        return [t["expr"] for p in d["panels"] for t in p.get("targets", [])] + \
               [v["query"]["query"] for v in d.get("templating", {}).get("list", []) if isinstance(v.get("query"), dict)]
    return re.findall(r"^\s*expr:\s*(.+)$", text, flags=re.M)


def main():
    args = sys.argv[1:]
    metrics_file, args = args[0], args[1:]
    optional, files = [], []
    while args:
        a = args.pop(0)
        if a == "--optional":
            optional.append(args.pop(0))
        else:
            files.append(a)
    have = set()
    for line in open(metrics_file):
        if line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
            if m:
                have.add(m.group(1))
    wanted, bad = set(), []
    for f in files:
        for e in exprs(f):
            for name in NAME.findall(e):
                wanted.add(name)
                if name in have:
                    continue
                if any(name.startswith(p) for p in optional):
                    print(f"not checked here (optional): {name} ({f})")
                    continue
                bad.append(f"{f}: {name} is not in the agent's /metrics")
    if not wanted:
        print("FAIL: no metric names found in the queries")
        return 1
    for b in bad:
        print("FAIL:", b)
    if not bad:
        print(f"ok: {len(wanted)} metric names of the queries are in the agent's /metrics")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
