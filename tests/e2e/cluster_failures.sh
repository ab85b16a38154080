#!/usr/bin/env bash
# Three nodes in cluster mode (scripts/lab.sh --cluster), and the failures a
# fleet sees: a node's agent killed, a node cut off from etcd.
#
# Checks:
# - node 2's agent SIGKILLed: its pins keep enforcing on node 2 while it is
#   dead (probes all along, in both families, allowed and denied); after the
#   lease TTL its workloads are gone from the other nodes' ipcache and a
#   packet from them is judged there as world; restarted, it rejoins: the
#   others know its workloads again, with the same identities, and it
#   writes only its own workloads to etcd (not the others' it kept in its
#   state directory: a second death would take them down everywhere);
# - node 3 partitioned from etcd (its packets to and from etcd dropped): it
#   keeps enforcing what it had, `status` reports the outage and exits 1 (as
#   docs/cluster.md says), an apply there fails and says why; a policy applied
#   through node 1 meanwhile is enforced on node 3 once it is healed.
#
# Usage: cluster_failures.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=cluster_common.sh
source "$here/cluster_common.sh"
cluster_setup "$1" f
prober_pid=''
trap '[ -n "$prober_pid" ] && kill "$prober_pid" 2>/dev/null; clab_down; rm -rf "$work"' EXIT

echo "== the lab, and one policy (through node 1); client (n3) takes HTTP from api (n2)"
clab_up || { echo "the lab did not come up"; exit 1; }
{
  cluster_policy_yaml
  cat <<'YAML'
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: client-in, namespace: prod}
spec:
  selector: {matchLabels: {tier: client}}
  ingress:
  - from: [{selector: {matchLabels: {tier: api}}}]
    ports: [{port: 80, protocol: TCP}]
YAML
} >"$work/policy.yaml"
rev=$(clab_zs 1 apply -f "$work/policy.yaml" -o json | cluster_rev)
expect_ok "every node applied the policy (revision $rev)" all_applied "${rev:-999999}"
api_id=$(clab_identity_of 2 prod/api) client_id=$(clab_identity_of 3 prod/client)
# the numbers the others are compared with must exist: '' = '' would pass
# every identity and ipcache check below with the workload lists unreadable
expect_ok "node 2 numbers api ($api_id)" test -n "$api_id"
expect_ok "node 3 numbers client ($client_id)" test -n "$client_id"
expect_eq "node 1 numbers api as node 2 does ($api_id)" "$(clab_identity_of 1 prod/api)" "$api_id"
for f in 4 6; do
  expect_ok "api (n2) -> web (n1):80 allowed, IPv$f" clab_probe api web http 80 $f
  expect_eq "node 1's ipcache: api's IPv$f address is api" "$(clab_ipcache_id 1 "$(clab_ip api $f)")" "$api_id"
done

# prober: node 2's own enforcement, from node 3, until $work/stop exists:
# client -> api allowed, guest -> api denied, families alternating
prober() {
  local f=4
  until [ -e "$work/stop" ]; do
    if clab_probe client api tcp 80 $f; then echo "allowed-ok $f"; else echo "allowed-GAP $f"; fi
    if clab_probe guest api tcp 80 $f; then echo "denied-GAP $f"; else echo "denied-ok $f"; fi
    f=$((10 - f))
  done >>"$work/probes"
}

echo "== node 2's agent SIGKILLed"
prober &
prober_pid=$!
sleep 1
clab_agent_kill 2 KILL
expect_ok "node 2's pins stay (its datapath, with the agent dead)" test -e "$(clab_pin 2)"
gone() { [ -z "$(clab_identity_of "$1" prod/api)" ] && [ -z "$(clab_ipcache_id "$1" "$(clab_ip api 4)")" ]; }
for _ in $(seq 150); do gone 1 && gone 3 && break; sleep 0.2; done
expect_ok "after the lease TTL node 1 forgot api (workloads, ipcache)" gone 1
expect_ok "and so did node 3" gone 3
for f in 4 6; do
  expect_eq "node 1's ipcache: no entry for api's IPv$f address" "$(clab_ipcache_id 1 "$(clab_ip api $f)")" ""
  expect_fail "api (n2) -> web (n1):80 denied now, IPv$f" clab_probe api web tcp 80 $f
  expect_eq "node 1 judged api's IPv$f address as world (2)" \
    "$(deny_identity 1 "$(clab_ip api $f)" "$(clab_ip web $f)")" 2
done
expect_ok "node 2 still enforces while its agent is dead: probes made" \
  test "$(grep -c . "$work/probes" 2>/dev/null)" -ge 4

# workload_keys N: NAMESPACE/NAME of each workload under node N's keys in
# etcd (the v3 JSON gateway, from the underlay where etcd listens)
workload_keys() {
  local prefix
  prefix="/zeroseg/v1/workloads/$(clab_node "$1")/"
  python3 - "$prefix" <<'PY' | ip netns exec "$LAB-u" curl -sf --max-time 5 "http://$CLAB_ETCD_IP:2379/v3/kv/range" -d @- |
import base64, json, sys
p = sys.argv[1].encode()
end = p[:-1] + bytes([p[-1] + 1])
print(json.dumps({"key": base64.b64encode(p).decode(), "range_end": base64.b64encode(end).decode(), "keys_only": True}))
PY
    python3 -c '
import base64, json, sys
prefix = sys.argv[1]
for kv in json.load(sys.stdin).get("kvs", []):
    print(base64.b64decode(kv["key"]).decode()[len(prefix):])' "$prefix" | sort
}

echo "== node 2 restarted: it rejoins"
clab_agent_start 2 || exit 1
for _ in $(seq 150); do [ "$(clab_identity_of 1 prod/api)" = "$api_id" ] && break; sleep 0.2; done
expect_eq "node 1 knows api again, by the same identity" "$(clab_identity_of 1 prod/api)" "$api_id"
expect_eq "and node 3" "$(clab_identity_of 3 prod/api)" "$api_id"
n2_keys=$(workload_keys 2) others=$( (workload_keys 1; workload_keys 3) | sort)
expect_contains "node 2 wrote its own workloads again (api among them)" "$n2_keys" "prod/api"
expect_ok "the others' workloads are under their own keys" test -n "$others"
expect_eq "node 2 wrote none of the others' workloads under its key" \
  "$(comm -12 <(echo "$n2_keys") <(echo "$others") | tr '\n' ' ')" ""
for f in 4 6; do
  expect_ok "api (n2) -> web (n1):80 allowed again, IPv$f" clab_probe api web http 80 $f
done
sleep 1
touch "$work/stop"
wait "$prober_pid"
prober_pid=''
n=$(grep -c . "$work/probes")
expect_ok "node 2 was probed all along ($n probes, both families)" test "$n" -ge 10
expect_eq "no allowed probe to node 2 failed: no gap in its enforcement" "$(grep -c GAP "$work/probes")" 0
expect_ok "both families probed" test "$(grep -c ' 6$' "$work/probes")" -ge 2

echo "== node 3 partitioned from etcd"
clab_partition 3 || exit 1
for _ in $(seq 200); do [ "$(clab_cluster_field 3 connected)" = false ] && break; sleep 0.2; done
expect_eq "node 3 reports the outage" "$(clab_cluster_field 3 connected)" false
expect_contains "and why" "$(clab_cluster_field 3 error)" "etcd"
expect_contains "the text status says so" "$(clab_zs 3 status 2>&1)" "; OUTAGE since"
clab_zs 3 status >/dev/null 2>&1
expect_eq "status exits 1 (degraded) during the outage" "$?" 1
out=$(clab_zs 3 apply -f "$work/policy.yaml" 2>&1)
expect_eq "an apply on node 3 fails" "$?" 1
expect_contains "and says why" "$out" "cluster store unavailable, nothing applied"
for f in 4 6; do
  expect_ok "node 3 keeps enforcing: api -> client:80 allowed, IPv$f" clab_probe api client http 80 $f
  expect_fail "node 3 keeps enforcing: batch -> client:80 denied, IPv$f" clab_probe batch client tcp 80 $f
done
cat >"$work/batch.yaml" <<'YAML'
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: client-from-batch, namespace: prod}
spec:
  selector: {matchLabels: {tier: client}}
  ingress:
  - from: [{selector: {matchLabels: {tier: batch}}}]
    ports: [{port: 80, protocol: TCP}]
YAML
rev=$(clab_zs 1 apply -f "$work/batch.yaml" -o json | cluster_rev)
expect_ok "a policy applied through node 1 meanwhile (revision $rev) reaches node 2" applied_at 2 "${rev:-999999}"
expect_fail "node 3 has not seen it: batch -> client:80 still denied" clab_probe batch client tcp 80 4

echo "== healed: node 3 catches up"
clab_heal 3 || exit 1
expect_ok "node 3 applied the revision it missed" applied_at 3 "${rev:-999999}"
expect_eq "node 3 is connected again" "$(clab_cluster_field 3 connected)" true
for f in 4 6; do
  expect_ok "node 3 enforces it: batch -> client:80 allowed, IPv$f" clab_probe batch client http 80 $f
  expect_fail "and the rest: guest -> client:80 denied, IPv$f" clab_probe guest client tcp 80 $f
done
for _ in $(seq 150); do [ "$(clab_identity_of 1 prod/client)" = "$client_id" ] && break; sleep 0.2; done
expect_eq "node 1 knows node 3's client, by the same identity" "$(clab_identity_of 1 prod/client)" "$client_id"
clab_zs 3 status >/dev/null 2>&1
expect_eq "status on node 3 exits 0 again" "$?" 0

clab_down
trap 'rm -rf "$work"' EXIT
e2e_nothing_left "$LAB" "$(clab_pin 1)"
for n in 2 3; do expect_ok "node $n's pin dir removed" test ! -e "$(clab_pin $n)"; done
e2e_summary
