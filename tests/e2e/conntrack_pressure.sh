#!/usr/bin/env bash
# Conntrack pressure with real packets: one workload opening flows at full
# speed cannot evict another workload's established flow.
#
#   t/victim holds a TCP connection to t/server:7000 (both under policy:
#   nothing else in or out), and the server talks first after the flood, so
#   a lost conntrack entry shows: the server's push is then a new flow that
#   policy drops. t/attacker, allowed everything out, floods SYNs (hping3
#   --rand-dest) and UDP flows of two datagrams each (flow_flood.py: a BPF
#   LRU spares entries looked up again, so one packet a flow would churn
#   only the flood's own entries) to random destinations, many times more
#   flows than the agent's small conntrack table holds (conntrack4-entries
#   2048).
#   Checked: the connection still carries data both ways, the victim still
#   opens new flows, the attacker's flows beyond its share were refused with
#   ct-endpoint-limit (counter, deny records), the conntrack-limit alert
#   names the attacker, and the attacker holds no more than its share.
#
# ZS_E2E_CT_SHARE=100 runs the agent without a share (the datapath before
# per-endpoint limits): the victim's entries are then evicted and the
# checks fail.
#
# Usage: conntrack_pressure.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
command -v hping3 >/dev/null || e2e_skip "hping3 is not installed (scripts/install-deps.sh)"

ZEROSEG=$(realpath "$1")
LAB=zs-k$(($$ % 1000))
CT4=2048
SHARE=${ZS_E2E_CT_SHARE:-25}
LAB_WORKLOADS=("t victim app=victim" "t server app=server" "t attacker app=attacker")
LAB_NAMESPACES=(t)
declare -A LAB_NS_LABELS=([t]="env: t")
LAB_AGENT_YAML="conntrack4-entries: $CT4
conntrack6-entries: 1024
ct-endpoint-share: $SHARE"
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
work=$(mktemp -d)
pids=()
cleanup() {
  exec 7>&- 2>/dev/null
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  lab_down
  rm -rf "$work"
}
trap cleanup EXIT

SERVER_IP=$(lab_ip t/server) ATTACKER_IP=$(lab_ip t/attacker)

# push TOKEN: the server sends TOKEN on the held connection and the victim
# echoes it; 0 when the echo came back
push() {
  echo "$1" >&7
  for _ in $(seq 50); do
    grep -q " $1\$" "$work/pushes" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "^ok $1\$" "$work/pushes"
}

metric() {  # metric NAME{LABELS}: its value, 0 when absent
  nsenter --net="/run/netns/$(lab_node)" curl -s http://127.0.0.1:9464/metrics |
    awk -v m="$1" '$1 == m {print $2; found=1} END {if (!found) print 0}'
}

# flood ARGS...: hping3 from the attacker for 4 s; prints packets sent
flood() {
  lab_exec t/attacker timeout -s INT 4 hping3 --flood --rand-dest -I eth0 "$@" 10.x.x.x >"$work/hping" 2>&1
  awk '/packets transmitted/ {print $1}' "$work/hping"
}

alerts_json() { lab_zs alerts --last 1000 -o json; }
count_alerts() {  # DETECTOR SOURCE_IP
  alerts_json | python3 -c '
import json, sys
print(sum(1 for line in sys.stdin
          if (a := json.loads(line))["detector"] == sys.argv[1] and a["source"]["ip"] == sys.argv[2]))' "$@"
}

echo "== lab $LAB up (conntrack4 $CT4 entries, endpoint share $SHARE%), policy"
lab_up || { fail "lab up"; exit 1; }
cat >"$work/policy.yaml" <<'YAML'
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: victim, namespace: t}
spec:
  selector: {matchLabels: {app: victim}}
  ingress: []
  egress:
  - to: [{selector: {matchLabels: {app: server}}}]
    ports: [{port: 7000}, {port: 5432}]
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: server, namespace: t}
spec:
  selector: {matchLabels: {app: server}}
  ingress:
  - from: [{selector: {matchLabels: {app: victim}}}]
    ports: [{port: 7000}, {port: 5432}]
  egress: []
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: attacker, namespace: t}
spec:
  selector: {matchLabels: {app: attacker}}
  ingress: []
  egress:
  - to: [{entity: all}]
YAML
lab_zs apply -f "$work/policy.yaml" >/dev/null || { fail "apply the policy"; exit 1; }
pass "policy applied: victim -> server:7000 only, attacker may send anywhere"

echo "== the victim's connection"
mkfifo "$work/cmds" || { fail "mkfifo"; exit 1; }
: >"$work/pushes"
lab_exec t/server python3 "$here/held_conn.py" server 7000 "$work/cmds" "$work/pushes" &
pids+=($!)
for _ in $(seq 50); do lab_exec t/server ss -Htln 'sport = :7000' | grep -q . && break; sleep 0.1; done
lab_exec t/victim python3 "$here/held_conn.py" client "$SERVER_IP" 7000 >"$work/client.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q connected "$work/client.out" && break; sleep 0.1; done
grep -q connected "$work/client.out" || { fail "the victim did not connect: $(cat "$work/client.out")"; exit 1; }
exec 7>"$work/cmds"
expect_ok "the server pushes to the victim and hears back, before the flood" push before
expect_ok "the policy holds: the attacker cannot reach the server" \
  bash -c "! nsenter --net=/run/netns/$(lab_netns t/attacker) ncat -z -w 1 $SERVER_IP 5432"

echo "== the attacker floods new flows"
refused0=$(metric 'zeroseg_drop_reason_packets_total{reason="ct-endpoint-limit"}')
syn=$(flood -S -p 80)
udp=$(lab_exec t/attacker python3 "$here/flow_flood.py" 4 10)
echo "  hping3 sent $syn SYNs, flow_flood.py opened $udp UDP flows of two datagrams, to random destinations"
if [ "${syn:-0}" -gt $((4 * CT4)) ] && [ "${udp:-0}" -gt $((4 * CT4)) ]; then
  pass "the flood opened more than 4x the table's flows, TCP and UDP"
else
  fail "the flood was too small to fill the table: $(cat "$work/hping") / $udp"
fi

echo "== after the flood"
expect_ok "the victim's held connection still carries data both ways (server talks first)" push after
expect_ok "the victim opens a new connection to the server" lab_exec t/victim ncat -z -w 2 "$SERVER_IP" 5432
sleep 1  # a sweep (500 ms) recounts, the metrics see the counters
refused=$(metric 'zeroseg_drop_reason_packets_total{reason="ct-endpoint-limit"}')
if [ "${refused%.*}" -gt "${refused0%.*}" ]; then
  pass "the attacker's flows beyond its share were refused: ct-endpoint-limit $refused0 -> $refused"
else
  fail "no ct-endpoint-limit drops ($refused)"
fi
n=$(grep -c '"reason":"ct-endpoint-limit"' "$(lab_dir)/flows.json")
[ "$n" -ge 1 ] && pass "deny records name the reason ($n in the flow log)" || fail "no deny record with ct-endpoint-limit"
alert=0
for _ in $(seq 50); do
  alert=$(count_alerts conntrack-limit "$ATTACKER_IP")
  [ "$alert" -ge 1 ] && break
  sleep 0.2
done
[ "$alert" -ge 1 ] && pass "a conntrack-limit alert names the attacker" || fail "no conntrack-limit alert: $(alerts_json)"
held=$(nsenter --net="/run/netns/$(lab_node)" "$ZEROSEG" bpf dump conntrack -o json --bpf-pin-dir "$(lab_pin)" | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin) if r["src"] == sys.argv[1]))' "$ATTACKER_IP")
max=$((CT4 * SHARE / 100))
if [ -n "$held" ] && [ "$held" -le $((max + 64)) ]; then
  pass "the attacker holds $held entries, its share is $max"
else
  fail "the attacker holds ${held:-?} entries, its share is $max"
fi
gauge=$(metric "zeroseg_conntrack_endpoint_entries{interface=\"$LAB-w3\",map=\"zs_conntrack4\",direction=\"egress\"}")
if [ "${gauge%.*}" -ge 1 ] && [ "${gauge%.*}" -le $((max + 64)) ]; then
  pass "/metrics shows the attacker's use of its egress share: $gauge entries"
else
  fail "/metrics: the attacker's egress share holds ${gauge:-?}"
fi
gauge_in=$(metric "zeroseg_conntrack_endpoint_entries{interface=\"$LAB-w3\",map=\"zs_conntrack4\",direction=\"ingress\"}")
# flows the attacker opened fill its egress share only (its ingress: [] lets no one open one towards it)
[ "${gauge_in%.*}" -eq 0 ] && pass "the attacker's flood is not in its ingress share" ||
  fail "the attacker's ingress share holds $gauge_in entries"

cleanup
trap - EXIT
e2e_nothing_left "$LAB" "/sys/fs/bpf/$LAB"
e2e_summary
