#!/usr/bin/env bash
# Detection in seconds, with real packets in the lab:
#   an nmap ping sweep (-sn: ICMP echo and timestamp, TCP SYN to 443, ACK
#   to 80) from guest/attacker over 120 addresses, 118 of which nobody has,
#   raises host-sweep within 10 s of the sweep's end: the probes nothing
#   answers are reported by the conntrack sweep as flow-unanswered seconds
#   after they went out, not when their flows time out (a minute for ICMP
#   and an ACK, two for a SYN);
#   a workload retrying three denied services five times a second is a
#   blocked dependency (low, no ATT&CK id, with the SegmentPolicy that
#   allows it: applied, the traffic passes), not a discovery alert.
#
# Usage: sweep_detection.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
LAB=zs-u$(($$ % 1000))
# the datapath's own timeouts for ICMP/UDP (the lab shortens them to 10 s):
# an outcome known only at a flow's end would come a minute late
# (flow-unanswered-after: its default, 3 s)
LAB_AGENT_YAML="ct-timeout-other: 60s"
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
work=$(mktemp -d)
cleanup() {
  lab_down
  rm -rf "$work"
}
trap cleanup EXIT

alerts_json() { lab_zs alerts --last 1000 -o json; }
# count_alerts DETECTOR SOURCE_IP
count_alerts() {
  alerts_json | python3 -c '
import json, sys
print(sum(1 for a in map(json.loads, sys.stdin) if a["detector"] == sys.argv[1] and a["source"]["ip"] == sys.argv[2]))' "$@"
}
# wait_alert DETECTOR SOURCE_IP SECONDS: 0 once there is one (polled, a deadline)
wait_alert() {
  local end=$((SECONDS + $3))
  while [ $SECONDS -le $end ]; do
    [ "$(count_alerts "$1" "$2")" -ge 1 ] && return 0
    sleep 0.2
  done
  return 1
}

echo "== lab $LAB up, three-tier policy"
lab_up || { fail "lab up"; exit 1; }
expect_ok "apply policies/three-tier.yaml" lab_zs apply -f "$root/policies/three-tier.yaml"

echo "== nmap -sn from guest/attacker over 10.77.3.1-120 (118 addresses nobody has)"
scan_start=$SECONDS
lab_exec guest/attacker nmap -sn -n -T4 10.77.3.1-120 >"$work/nmap.out" 2>&1
scan_end=$SECONDS
up=$(grep -c '^Nmap scan report' "$work/nmap.out")
[ "$up" -le 2 ] && pass "nmap: $up hosts up of 120, in $((scan_end - scan_start)) s" || fail "nmap saw $up hosts: $(cat "$work/nmap.out")"
if wait_alert host-sweep 10.77.6.2 10; then
  pass "host-sweep within $((SECONDS - scan_end)) s of the sweep's end (at most 10)"
else
  fail "no host-sweep from 10.77.6.2 within 10 s of the sweep's end: $(alerts_json)"
fi
alerts_json | python3 -c '
import json, sys
a = [a for a in map(json.loads, sys.stdin) if a["detector"] == "host-sweep"][0]
assert a["source"]["name"] == "guest/attacker", a
assert a["mitre"] == ["T1046", "T1018"], a
assert len(a["targets"]) >= 25, a
nobody = [t for t in a["targets"] if t.split(":")[0] not in ("10.77.3.1", "prod/db")]
assert len(nobody) >= 20, a  # addresses with no workload are targets
assert any("unanswered" in e for e in a["evidence"]), a
' && pass "the alert: guest/attacker, T1046+T1018, addresses nobody has among its targets, unanswered evidence" \
  || fail "host-sweep alert: $(alerts_json | grep host-sweep)"
# in seconds from the first probe, however long nmap takes on a busy machine
alerts_json | python3 -c '
import json, sys
from datetime import datetime
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")[:26] + "+00:00" if "." in s else s.replace("Z", "+00:00"))
alert = min(t(a["time"]) for a in map(json.loads, sys.stdin) if a["detector"] == "host-sweep")
first = min(t(f["time"]) for f in map(json.loads, open(sys.argv[1])) if f["event"] == "flow-start" and f["source"]["ip"] == "10.77.6.2")
d = (alert - first).total_seconds()
print(f"{d:.1f}")
assert 0 <= d <= 10, d
' "$(lab_dir)/flows.json" >"$work/delay" && pass "host-sweep $(cat "$work/delay") s after the sweep's first probe (at most 10)" \
  || fail "host-sweep not within 10 s of the first probe: $(cat "$work/delay")"
# the alert needs some of them, the log gets all within a sweep or two of
# the last probe's delay: wait for them with a deadline
unanswered_count() {
  python3 -c '
import json, sys
print(sum(1 for f in map(json.loads, open(sys.argv[1])) if f["event"] == "flow-unanswered" and f["source"]["ip"] == "10.77.6.2"))
' "$(lab_dir)/flows.json"
}
for _ in $(seq 60); do
  n=$(unanswered_count)
  [ "$n" -ge 118 ] && break
  sleep 0.5
done
[ "$n" -ge 118 ] && pass "flow log: $n flow-unanswered records from the attacker" || fail "flow log: $n flow-unanswered records"
python3 -c '
import json, sys
seen = 0
for f in map(json.loads, open(sys.argv[1])):
    if f["event"] == "flow-unanswered":
        assert f["verdict"] == "allowed" and f["packets"]["reply"] == 0 and "end_reason" not in f, f
        assert 3000 <= f["duration_ms"] <= 10000, f
        seen += 1
assert seen, "none"
' "$(lab_dir)/flows.json" && pass "each says allowed, no reply, reported 3-10 s after its first packet" \
  || fail "flow-unanswered records: $(grep -m3 flow-unanswered "$(lab_dir)/flows.json")"
lab_zs flows --last 10000 --from guest/attacker --event unanswered >"$work/flows.txt" 2>&1
grep -q 'unanswered .*no reply [0-9]*ms after the first packet' "$work/flows.txt" && ! grep -qE ' (start|end|deny) ' "$work/flows.txt" \
  && pass "zeroseg flows --event unanswered lists them, and only them" || fail "flows --event unanswered: $(head -5 "$work/flows.txt")"
metrics=$(nsenter --net="/run/netns/$(lab_node)" curl -s http://127.0.0.1:9464/metrics)
grep -q '^zeroseg_flows_unanswered_total [1-9]' <<<"$metrics" && pass "/metrics counts them" \
  || fail "metrics: $(grep unanswered <<<"$metrics")"

echo "== dev/web retries three denied services (prod/web, app and db on 8080) 5 times a second"
lab_exec dev/web python3 - <<'PY' &
import socket, time
end = time.time() + 6
while time.time() < end:
    socks = []
    for ip in ("10.77.1.2", "10.77.2.2", "10.77.3.2"):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((ip, 8080))
        socks.append(s)
    time.sleep(0.2)
    for s in socks:
        s.close()
PY
retry=$!
if wait_alert blocked-dependency 10.77.4.2 15; then
  pass "blocked-dependency from dev/web"
else
  fail "no blocked-dependency from dev/web within 15 s: $(alerts_json)"
fi
wait "$retry"
sleep 1  # the last denies analysed
others=$(alerts_json | python3 -c '
import json, sys
print(" ".join(sorted({a["detector"] for a in map(json.loads, sys.stdin) if a["source"]["ip"] == "10.77.4.2"} - {"blocked-dependency"})))')
[ -z "$others" ] && pass "and no discovery alert from dev/web" || fail "dev/web also raised: $others"
alerts_json | python3 -c '
import json, sys
al = [a for a in map(json.loads, sys.stdin) if a["detector"] == "blocked-dependency"]
assert {a["targets"][0] for a in al} == {"prod/web:8080", "prod/app:8080", "prod/db:8080"}, al
for a in al:
    assert a["severity"] == "low" and a["mitre"] == [], a
    # db denies dev by a rule (ingressDeny): no allow can help, the rule is named
    want = "deny rules beat allow rules" if a["targets"][0] == "prod/db:8080" else "kind: SegmentPolicy"
    assert want in a["suggestion"], a
app = [a for a in al if a["targets"][0] == "prod/app:8080"][0]
open(sys.argv[1], "w").write(app["suggestion"])
' "$work/allow.yaml" && pass "one per target, low, no ATT&CK id, each with the policy change (or the deny rule in the way)" \
  || fail "blocked-dependency alerts: $(alerts_json | grep blocked-dependency)"
[ -s "$work/allow.yaml" ] || echo "(no suggestion to apply)" >"$work/allow.yaml"
expect_fail "dev/web -> prod/app:8080 is denied" lab_probe dev/web prod/app tcp 8080
expect_ok "apply the suggested policy" lab_zs apply -f "$work/allow.yaml"
expect_ok "dev/web -> prod/app:8080 passes under it" lab_probe dev/web prod/app tcp 8080
expect_fail "and nothing more: dev/web -> prod/db:8080 still denied" lab_probe dev/web prod/db tcp 8080

echo "== down, and nothing left"
cleanup
trap - EXIT
e2e_nothing_left "$LAB" "$(lab_pin)"
e2e_summary
