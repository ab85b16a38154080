#!/usr/bin/env bash
# Detection quality in the lab, short (bench/detection_quality.sh --quick):
# real nmap scans (-sS, -sT, -sU, -sn of a /24, -T2, a slow sweep with
# --scan-delay) and an SSH/SMB/RDP chain across tiers, each from its own
# workload, beside a three-tier app and its operations (health checks, DNS,
# a backup job, monitoring) that the detectors learned first. Asserts each
# attack raised an alert from its source within a generous bound (60 s
# after its end: a loaded machine is slow; the measured seconds are
# printed, the 10 s target is the benchmark's to report) and that the
# normal traffic raised none, and that the lab leaves nothing behind. And
# what made that hold: the connect scan's RSTs reported at once
# (flow-refused), not a closing timeout later; one first-seen-edge alert per
# source, host and severity, not one per port scanned, and none for SYNs the
# target denied.
#
# Usage: detection_quality.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== bench/detection_quality.sh --quick"
bash "$root/bench/detection_quality.sh" --quick --zeroseg "$ZEROSEG" --json "$work/result.json" >"$work/out.txt" 2>&1 &
bench=$!
wait $bench
rc=$?
cat "$work/out.txt"
[ -s "$work/result.json" ] || { fail "the benchmark wrote no result (exit $rc)"; e2e_summary; exit 1; }
pass "the benchmark ran (exit $rc)"
tag=$(sed -n 's/^== [0-9:]* lab \(zs-q[0-9]*\) up.*/\1/p' "$work/out.txt")

python3 - "$work/result.json" >"$work/checks.txt" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
names = [a["name"] for a in res["attacks"]]
want = ["slow-sweep", "syn-scan", "connect-scan", "udp-scan", "ping-sweep", "slow-scan", "lateral"]
print(("ok" if sorted(names) == sorted(want) else "FAIL") + f" attacks run: {' '.join(names)}")
for a in res["attacks"]:
    first = a["first_alert_after_end_s"]
    dets = ", ".join(sorted(a["detectors"]))
    if a["detected"]:
        print(f"ok {a['name']}: alerted {first:+.1f} s after its end ({dets})")
    else:
        print(f"FAIL {a['name']}: no alert from its source within {res['bound_s']} s of its end")
n = res["normal"]
print(("ok" if n["false_alerts"] == 0 and n["false_alerts_while_learning"] == 0 else "FAIL") +
      f" normal traffic: {n['false_alerts']} false alerts in {n['seconds']:.0f} s after learning, "
      f"{n['false_alerts_while_learning']} while learning {n['false_by_detector']}")
print(("ok" if res["clock"] == "raised" else "FAIL") + f" alerts carry the time they were raised ({res['clock']})")
PY
# what made the connect scan known early, and the alert log readable
python3 - "$work/result.d" >>"$work/checks.txt" <<'PY'
import collections, json, os, sys
d = sys.argv[1]
run = json.load(open(os.path.join(d, "run.json")))
st = [a for a in run["attacks"] if a["name"] == "connect-scan"][0]["sources"][0]
flows = [json.loads(l) for l in open(os.path.join(d, "flows.json")) if l.strip()]
refused = sum(1 for f in flows if f["event"] == "flow-refused" and f["source"]["ip"] == st)
print(("ok" if refused >= 15 else "FAIL") + f" the connect scan's RSTs reported as flow-refused at the sweep after them ({refused})")
alerts = [json.loads(l) for l in open(os.path.join(d, "alerts.json")) if l.strip()]
edges = collections.Counter((a["source"]["ip"], a["targets"][0].split(":")[0], a["severity"]) for a in alerts
                            if a["detector"] == "first-seen-edge")
worst = max(edges.items(), key=lambda kv: kv[1], default=(("-", "-", "-"), 0))
print(("ok" if worst[1] <= 1 else "FAIL") + f" first-seen-edge: at most one alert per source, host and severity "
      f"({len(alerts)} alerts in all; most for one pair: {worst[1]}, {worst[0][0]} -> {worst[0][1]})")
# an edge is traffic let in where the flow is decided, or answered: a start
# at the destination's end (ingress), a start at the source's end to an
# address no workload has (its name is then an identity's, not the address's
# label), an end with a reply. SYNs a target denied are no edge (the SYN
# scan's at prod/db made one before)
def traffic(f, host):
    d = f["destination"]
    if host not in (d["ip"], d["name"]):
        return False
    if f["event"] == "flow-start":
        return f["direction"] == "ingress" or d["name"] != host
    return f["event"] == "flow-end" and f.get("packets", {}).get("reply", 0) > 0
false_edges = sorted({(a["source"]["ip"], a["targets"][0].rsplit(":", 1)[0]) for a in alerts
                      if a["detector"] == "first-seen-edge"} -
                     {(f["source"]["ip"], h) for f in flows for h in (f["destination"]["ip"], f["destination"]["name"])
                      if traffic(f, h)})
scan = [a for a in run["attacks"] if a["name"] == "syn-scan"][0]["sources"][0]
scan_edges = [a for a in alerts if a["detector"] == "first-seen-edge" and a["source"]["ip"] == scan]
print(("ok" if not false_edges and not scan_edges else "FAIL") +
      f" first-seen-edge only where traffic went through (false: {false_edges}; the denied SYN scan's: {len(scan_edges)})")
PY
while read -r verdict rest; do
  if [ "$verdict" = ok ]; then pass "$rest"; else fail "$rest"; fi
done <"$work/checks.txt"
[ -n "$tag" ] && e2e_nothing_left "$tag" "/sys/fs/bpf/$tag"
e2e_summary
