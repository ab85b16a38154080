#!/usr/bin/env bash
# Detection and response in the lab, with real traffic and real nmap:
#   the baseline is learned from the tiers' normal traffic, after which
#   that traffic raises nothing; new edges raise first-seen-edge, and two of
#   them through one host a chain; an nmap scan from guest/attacker raises
#   port-scan with the attacker's identity within 10 s of the scan's end,
#   goes to the alert log, /metrics and a webhook, and quarantines the
#   attacker on its own (auto-quarantine); `quarantine add` cuts an open
#   connection and blocks new ones but not management, `remove` restores.
#
# Usage: detection.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
LAB=zs-d$(($$ % 1000))
HOOK_PORT=9471
LAB_AGENT_YAML="detect-learning-period: 8s
alert-webhook: http://127.0.0.1:$HOOK_PORT/alerts
auto-quarantine: port-scan:medium
auto-quarantine-duration: 2m"
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
work=$(mktemp -d)
pids=()
cleanup() {
  exec 7>&- 8<&- 2>/dev/null
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  lab_down
  rm -rf "$work"
}
trap cleanup EXIT

alerts_json() { lab_zs alerts --last 1000 -o json; }
# count_alerts DETECTOR [SOURCE_IP]
count_alerts() {
  alerts_json | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    a = json.loads(line)
    n += a["detector"] == sys.argv[1] and (len(sys.argv) < 3 or a["source"]["ip"] == sys.argv[2])
print(n)' "$@"
}
# wait_alert DETECTOR SOURCE_IP SECONDS: 0 once there is one
wait_alert() {
  local end=$((SECONDS + $3))
  while [ $SECONDS -le $end ]; do
    [ "$(count_alerts "$1" "$2")" -ge 1 ] && return 0
    sleep 0.2
  done
  return 1
}
normal_traffic() {  # the tiers at work, as the three-tier policy allows
  local f
  for f in 4 6; do
    lab_probe prod/web prod/app tcp 8080 $f
    lab_probe prod/app prod/db tcp 5432 $f
    lab_probe mgmt/bastion prod/db tcp 22 $f
    lab_probe guest/attacker prod/web http 80 $f
  done
}

echo "== lab $LAB up, webhook receiver, three-tier policy"
lab_up || { fail "lab up"; exit 1; }
setsid nsenter --net="/run/netns/$(lab_node)" python3 "$here/webhook_receiver.py" "$HOOK_PORT" "$work/hook.json" \
  </dev/null >/dev/null 2>&1 &
pids+=($!)
expect_ok "apply policies/three-tier.yaml" lab_zs apply -f "$root/policies/three-tier.yaml"

echo "== learning, then quiet"
end=$((SECONDS + 9))
while [ $SECONDS -lt $end ]; do normal_traffic; done
learning=
for _ in $(seq 50); do
  learning=$(lab_zs status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["telemetry"]["detection"]["learning"])')
  [ "$learning" = False ] && break
  sleep 0.2
done
[ "$learning" = False ] && pass "the learning period ended" || fail "still learning: $learning"
normal_traffic
normal_traffic
sleep 2  # a sweep or four: the flows' ends are in
n=$(alerts_json | wc -l)
[ "$n" = 0 ] && pass "normal traffic between the tiers raises nothing" || fail "normal traffic raised $n alerts: $(alerts_json)"
[ -s "$(lab_dir)/state/baseline.json" ] && pass "the baseline is kept in the state dir" || fail "no baseline.json"

echo "== new edges, and a chain through one host"
expect_ok "mgmt/bastion -> dev/web:22 (a new edge)" lab_probe mgmt/bastion dev/web tcp 22
expect_ok "dev/web -> guest/attacker:80 (a new edge from where it was reached)" lab_probe dev/web guest/attacker tcp 80
wait_alert chain 10.77.4.2 5 && pass "chain: mgmt/bastion -> dev/web -> guest/attacker" || fail "no chain alert: $(alerts_json)"
n=$(count_alerts first-seen-edge)
[ "$n" -ge 2 ] && pass "first-seen-edge for both new edges ($n)" || fail "first-seen-edge: $n alerts"
n=$(count_alerts lateral-service 10.77.5.2)
[ "$n" = 0 ] && pass "no lateral-service for bastion: it used ssh while learning" || fail "lateral-service from bastion: $n"

echo "== nmap from guest/attacker at the prod/db segment"
attacker_id=$(lab_zs workload list -o json | python3 -c '
import json, sys
print([w["identity"] for w in json.load(sys.stdin) if w["name"] == "attacker"][0])')
lab_exec guest/attacker nmap -Pn -n -sS --max-retries 0 -p 1-200,443,5432,8080 10.77.3.2 >"$work/nmap.out" 2>&1
scan_end=$SECONDS
if wait_alert port-scan 10.77.6.2 10; then
  pass "port-scan alert within $((SECONDS - scan_end)) s of the scan's end (at most 10)"
else
  fail "no port-scan alert from 10.77.6.2 within 10 s: $(alerts_json)"
fi
alerts_json | python3 -c '
import json, sys
a = [a for a in map(json.loads, sys.stdin) if a["detector"] == "port-scan"][0]
s = a["source"]
assert s["name"] == "guest/attacker" and s["labels"].get("role") == "guest", s
assert str(s["identity"]) == sys.argv[1], (s, sys.argv[1])
assert a["mitre"] == ["T1046"] and a["evidence"] and a["targets"] == ["prod/db"], a
assert any(x.startswith("quarantine 10.77.6.2") for x in a.get("actions", [])), a
' "$attacker_id" && pass "the alert names the attacker's identity ($attacker_id), labels, targets, T1046, evidence, action" \
  || fail "port-scan alert: $(alerts_json | grep port-scan)"
n=$(count_alerts lateral-service 10.77.6.2)
[ "$n" -ge 1 ] && pass "lateral-service: the attacker's first ssh try" || fail "no lateral-service from the attacker"
grep -q '"detector":"port-scan"' "$(lab_dir)/alerts.json" && pass "the alert log has it" || fail "not in alerts.json"
for _ in $(seq 20); do grep -q '"detector":"port-scan"' "$work/hook.json" 2>/dev/null && break; sleep 0.1; done
grep -q '"detector":"port-scan"' "$work/hook.json" 2>/dev/null && pass "the webhook got it" || fail "the webhook got nothing"
metrics=$(lab_exec mgmt/bastion true; nsenter --net="/run/netns/$(lab_node)" curl -s http://127.0.0.1:9464/metrics)
grep -Eq '^zeroseg_alerts_total\{detector="port-scan",severity="[a-z]+"\} [1-9]' <<<"$metrics" && pass "/metrics counts it" || fail "metrics: $(grep alerts <<<"$metrics")"
grep -q '^zeroseg_alert_webhook_total{result="sent"} [1-9]' <<<"$metrics" && pass "/metrics counts the webhook's deliveries" || fail "webhook metrics: $(grep webhook <<<"$metrics")"

echo "== automatic quarantine of the attacker"
for _ in $(seq 20); do lab_zs quarantine list -o json | grep -q '"10.77.6.2"' && break; sleep 0.1; done
lab_zs quarantine list -o json | grep -q '"reason": "auto: port-scan' && pass "quarantine list: 10.77.6.2, by the port-scan alert" \
  || fail "quarantine list: $(lab_zs quarantine list)"
expect_fail "quarantined attacker -> prod/web:80 (allowed before)" lab_probe guest/attacker prod/web http 80
expect_fail "dev/web -> quarantined attacker:80" lab_probe dev/web guest/attacker tcp 80
expect_ok "mgmt/bastion -> quarantined attacker:22 (management)" lab_probe mgmt/bastion guest/attacker tcp 22
expect_ok "quarantine remove 10.77.6.2" lab_zs quarantine remove 10.77.6.2
expect_ok "released: attacker -> prod/web:80 again" lab_probe guest/attacker prod/web http 80

echo "== quarantine cuts an open connection, management stays, release restores"
mkfifo "$work/in" "$work/out"
lab_exec prod/app ncat 10.77.3.2 5432 <"$work/in" >"$work/out" &
pids+=($!)
exec 7>"$work/in" 8<"$work/out"
echo_line() { echo "$1" >&7 && IFS= read -r -t 2 reply <&8 && [ "$reply" = "$1" ]; }
expect_ok "prod/app -> prod/db:5432: an open connection" echo_line one
expect_ok "quarantine add prod/app --expires 10m" lab_zs quarantine add prod/app --expires 10m
expect_fail "the open connection is cut at once" echo_line two
expect_fail "prod/web -> quarantined prod/app:8080" lab_probe prod/web prod/app tcp 8080
expect_fail "quarantined prod/app -> prod/db:5432 (new)" lab_probe prod/app prod/db tcp 5432 6
expect_ok "mgmt/bastion -> quarantined prod/app:22" lab_probe mgmt/bastion prod/app tcp 22 6
expect_ok "quarantine remove prod/app" lab_zs quarantine remove prod/app
expect_ok "released: prod/web -> prod/app:8080" lab_probe prod/web prod/app tcp 8080
expect_ok "released: prod/app -> prod/db:5432" lab_probe prod/app prod/db tcp 5432 6
out=$(lab_zs quarantine list 2>&1)
[ "$out" = "nothing is quarantined" ] && pass "quarantine list is empty again" || fail "quarantine list: $out"
expect_fail "quarantine add of nothing known is refused" lab_zs quarantine add prod/nothing

echo "== down, and nothing left"
cleanup
trap - EXIT
pids=()
e2e_nothing_left "$LAB" "$(lab_pin)"
e2e_summary
