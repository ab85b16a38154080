#!/usr/bin/env bash
# Detection blind, with real packets in the lab: a flood of denies past the
# kernel's per-CPU deny-event budget (deny-events-per-cpu, 50 here) is held
# back from the detectors; the agent says so with a detection-blind alert
# (medium) within seconds, counts it (status: deny_events_over_budget;
# /metrics), and with a second one (low) once nothing has been held back
# for 10 s, naming the window and how many denies it held back.
#
# Usage: detection_blind.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
LAB=zs-b$(($$ % 1000))
LAB_AGENT_YAML="deny-events-per-cpu: 50"
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
work=$(mktemp -d)
cleanup() {
  lab_down
  rm -rf "$work"
}
trap cleanup EXIT

alerts_json() { lab_zs alerts --last 1000 -o json; }
# blind_alerts SEVERITY: how many detection-blind alerts of that severity
blind_alerts() {
  alerts_json | python3 -c '
import json, sys
print(sum(1 for a in map(json.loads, sys.stdin) if a["detector"] == "detection-blind" and a["severity"] == sys.argv[1]))' "$1"
}
# wait_blind SEVERITY SECONDS: 0 once there is one (polled, a deadline)
wait_blind() {
  local end=$((SECONDS + $2))
  while [ $SECONDS -le $end ]; do
    [ "$(blind_alerts "$1")" -ge 1 ] && return 0
    sleep 0.2
  done
  return 1
}
over_budget() {
  lab_zs status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["telemetry"]["deny_events_over_budget"])'
}

echo "== lab $LAB up, three-tier policy, a deny-event budget of 50 a second per CPU"
lab_up || { fail "lab up"; exit 1; }
expect_ok "apply policies/three-tier.yaml" lab_zs apply -f "$root/policies/three-tier.yaml"
expect_fail "guest/attacker -> prod/db:5432 is denied" lab_probe guest/attacker prod/db tcp 5432
sleep 2
[ "$(blind_alerts medium)" = 0 ] && pass "a few denies: no detection-blind alert" || fail "blind already: $(alerts_json)"

echo "== a flood of denies: nmap -sS at 3000 ports of prod/db, 3000 a second"
lab_exec guest/attacker nmap -n -Pn -sS --max-retries 0 --min-rate 3000 -p 1-3000 10.77.3.2 >"$work/nmap.out" 2>&1
flood_end=$SECONDS
if wait_blind medium 10; then
  pass "detection-blind (medium) within $((SECONDS - flood_end)) s of the flood's end (at most 10)"
else
  fail "no detection-blind alert within 10 s: $(alerts_json)"
fi
n=$(over_budget)
[ "${n:-0}" -gt 0 ] && pass "status: $n denies over budget" || fail "status: deny_events_over_budget $n"
alerts_json | python3 -c '
import json, sys
a = [a for a in map(json.loads, sys.stdin) if a["detector"] == "detection-blind"][0]
assert "held back" in a["summary"] and "deny-events-per-cpu" in a["summary"], a
assert a["mitre"] == [] and a["source"]["ip"] == "", a
' && pass "the alert names the budget and what it held back, no source address to quarantine" \
  || fail "detection-blind alert: $(alerts_json | grep detection-blind)"
if wait_blind low 25; then
  pass "detection-blind closed (low) $((SECONDS - flood_end)) s after the flood's end (10 s quiet)"
else
  fail "no closing detection-blind alert within 25 s: $(alerts_json | grep detection-blind)"
fi
alerts_json | python3 -c '
import json, sys
a = [a for a in map(json.loads, sys.stdin) if a["detector"] == "detection-blind" and a["severity"] == "low"][0]
assert "was blind from" in a["summary"] and "held back" in a["summary"], a
' && pass "the closing alert names the window and how many" || fail "closing alert: $(alerts_json | grep detection-blind)"
[ "$(blind_alerts medium)" = 1 ] && pass "one window, one opening alert" || fail "opening alerts: $(blind_alerts medium)"

echo "== down, and nothing left"
cleanup
trap - EXIT
e2e_nothing_left "$LAB" "$(lab_pin)"
e2e_summary
