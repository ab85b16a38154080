#!/usr/bin/env bash
# Three nodes in cluster mode (the lab of scripts/lab.sh --cluster: a routed
# underlay, etcd in its own namespace, an agent per node, two workloads behind
# each node in IPv4 and IPv6; see scripts/lib/cluster_lab.sh).
#
# Checks: one policy applied once, through node 1, reaches all three nodes and
# each enforces it on real packets across the underlay, in both families;
# a pair the policy leaves out is denied by its identity (the deny record on
# the receiving node names the sender's identity, not world) while the same
# pair passes before the policy and after a policy change (so routes are not
# what denies it); every node numbers every workload alike; etcd compacted
# (the lab's clab_compact, as an operator's job) under the watching agents:
# each lists again and a later change still reaches every node; `cluster
# status` on each node lists the three nodes.
#
# Usage: cluster_nodes.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=cluster_common.sh
source "$here/cluster_common.sh"
cluster_setup "$1" k

echo "== the lab: three nodes, etcd, an agent per node, each node's workloads applied through it"
clab_up || { echo "the lab did not come up"; exit 1; }
clab_status

echo "== before any policy: routes across the underlay work both ways, in both families"
for f in 4 6; do
  expect_ok "client (n3) -> web (n1) over IPv$f" clab_probe client web http 80 $f
  expect_ok "guest (n3) -> web (n1) over IPv$f" clab_probe guest web http 80 $f
  expect_ok "guest (n3) -> api (n2) over IPv$f" clab_probe guest api http 80 $f
  expect_ok "web (n1) -> batch (n2) over IPv$f" clab_probe web batch http 80 $f
done

echo "== identities: every node numbers every workload alike"
ids1=$(clab_workload_ids 1) ids2=$(clab_workload_ids 2) ids3=$(clab_workload_ids 3)
expect_eq "node 1 knows the 6 workloads" "$(wc -w <<<"$ids1")" 6
expect_eq "node 2 numbers them as node 1" "$ids2" "$ids1"
expect_eq "node 3 numbers them as node 1" "$ids3" "$ids1"
expect_eq "the 6 identities differ" "$(tr ' ' '\n' <<<"$ids1" | cut -d= -f2 | sort -u | wc -l)" 6
for w in prod/web prod/api prod/client guest/guest; do
  id=$(clab_identity_of 1 "$w")
  expect_ok "node 1 numbers $w ($id)" test -n "$id"
  for n in 1 2 3; do
    for f in 4 6; do
      expect_eq "node $n's ipcache: $w's IPv$f address has $w's identity ($id)" "$(clab_ipcache_id $n "$(clab_ip "$w" $f)")" "$id"
    done
  done
done

echo "== a node that missed some numbering agrees too"
# node 3 down while node 1 numbers tmp, then late, then drops tmp: a node
# numbering on its own would give late tmp's number when it sees late alone
clab_agent_kill 3
cat >"$work/tmp.yaml" <<'YAML'
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: tmp, namespace: prod, labels: {tier: tmp}}
spec: {ips: [10.81.9.2]}
YAML
cat >"$work/late.yaml" <<'YAML'
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: late, namespace: prod, labels: {tier: late}}
spec: {ips: [10.81.9.3]}
YAML
expect_ok "tmp applied through node 1" clab_zs 1 apply -f "$work/tmp.yaml"
expect_ok "late applied through node 1" clab_zs 1 apply -f "$work/late.yaml"
rev=$(clab_zs 1 delete -f "$work/tmp.yaml" -o json | cluster_rev)
clab_agent_start 3 || exit 1
expect_ok "node 3, back, applied the revision it missed" applied_at 3 "${rev:-999999}"
late=$(clab_identity_of 1 prod/late)
expect_ok "node 1 numbers late ($late)" test -n "$late"
expect_eq "node 3 numbers late as node 1" "$(clab_identity_of 3 prod/late)" "$late"
expect_eq "and node 2" "$(clab_identity_of 2 prod/late)" "$late"
expect_eq "node 3's ipcache: late's address is late" "$(clab_ipcache_id 3 10.81.9.3)" "$late"
# prod/db runs on node 1 (its key is under node 1): a delete through node 3
# deleted nothing and answered "deleted" before
db=$(clab_identity_of 2 prod/db)
# (the one document of node 1's objects that names db)
clab_objects_yaml 1 | python3 -c 'import sys; print(next(d for d in sys.stdin.read().split("---\n") if "name: db," in d))' \
  >"$work/db.yaml"
expect_contains "node 1's prod/db, as node 1 applied it" "$(cat "$work/db.yaml")" "name: db"
out=$(clab_zs 3 delete -f "$work/db.yaml" 2>&1)
expect_ok "a delete of node 1's workload through node 3 fails" test "$?" != 0
expect_contains "and says where to delete it" "$out" "deleted through the node that runs it"
expect_eq "prod/db is still on node 2" "$(clab_identity_of 2 prod/db)" "$db"
# late has no interface: it runs on no node, and is deleted through any
rev=$(clab_zs 3 delete -f "$work/late.yaml" -o json | cluster_rev)
expect_ok "late (no node's) deleted through node 3, applied on every node" all_applied "${rev:-999999}"
expect_eq "late is gone on node 1" "$(clab_identity_of 1 prod/late)" ""

echo "== one policy, applied once through node 1"
cluster_policy_yaml >"$work/policy.yaml"
rev=$(clab_zs 1 apply -f "$work/policy.yaml" -o json | cluster_rev)
expect_ok "the apply returned an etcd revision ($rev)" test "${rev:-0}" -gt 0
expect_ok "every node applied that revision" all_applied "${rev:-999999}"
for n in 1 2 3; do
  expect_eq "node $n holds both policies" \
    "$(clab_zs $n policy list -o json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(sorted(p["name"] for p in json.load(sys.stdin))))')" "api-in web-in"
done

echo "== enforced on real packets across nodes, both families"
for f in 4 6; do
  expect_ok "client (n3) -> web (n1):80 allowed, IPv$f" clab_probe client web http 80 $f
  expect_ok "api (n2) -> web (n1):80 allowed, IPv$f" clab_probe api web http 80 $f
  expect_ok "client (n3) -> api (n2):80 allowed, IPv$f" clab_probe client api http 80 $f
  expect_fail "guest (n3) -> web (n1):80 denied, IPv$f" clab_probe guest web tcp 80 $f
  expect_fail "batch (n2) -> web (n1):80 denied, IPv$f" clab_probe batch web tcp 80 $f
  expect_fail "web (n1) -> api (n2):80 denied, IPv$f" clab_probe web api tcp 80 $f
  expect_fail "db (n1, web's own node) -> web:80 denied, IPv$f" clab_probe db web tcp 80 $f
  expect_fail "client (n3) -> web (n1):8080 denied (port), IPv$f" clab_probe client web tcp 8080 $f
  expect_ok "unselected: guest (n3) -> batch (n2):8080 open, IPv$f" clab_probe guest batch tcp 8080 $f
done

echo "== the denied pair is denied by identity: the receiving node names the sender"
guest_id=$(clab_identity_of 1 guest/guest)
expect_ok "node 1 numbers guest ($guest_id)" test -n "$guest_id"
for f in 4 6; do
  expect_eq "node 1's deny of guest -> web (IPv$f) carries guest's identity ($guest_id), not world" \
    "$(deny_identity 1 "$(clab_ip guest $f)" "$(clab_ip web $f)")" "$guest_id"
done

echo "== a policy change (through node 2) lets the same pair through; its delete (through node 3) denies it again"
cluster_guest_policy_yaml >"$work/guest.yaml"
rev=$(clab_zs 2 apply -f "$work/guest.yaml" -o json | cluster_rev)
expect_ok "every node applied the change (revision $rev)" all_applied "${rev:-999999}"
for f in 4 6; do
  expect_ok "guest (n3) -> web (n1):80 allowed now, IPv$f" clab_probe guest web http 80 $f
  expect_fail "batch (n2) -> web (n1):80 still denied, IPv$f" clab_probe batch web tcp 80 $f
done
rev=$(clab_zs 3 delete -f "$work/guest.yaml" -o json | cluster_rev)
expect_ok "every node applied the delete (revision $rev)" all_applied "${rev:-999999}"
for f in 4 6; do
  expect_fail "guest (n3) -> web (n1):80 denied again, IPv$f" clab_probe guest web tcp 80 $f
  expect_ok "client (n3) -> web (n1):80 still allowed, IPv$f" clab_probe client web http 80 $f
done

echo "== etcd compacted and defragmented under the watching agents: they list again and keep applying"
declare -A relists
for n in 1 2 3; do relists[$n]=$(clab_cluster_field $n relists); done
# An agent makes its watch again after each quiet 10 s, from the revision
# etcd had when it made the last one. Writes of another program to the same
# etcd (outside /zeroseg/v1/: no event reaches the agents) move etcd's head
# past that, and a compaction there makes etcd refuse the next watch
# (compact_revision): the agent must list again. Written and compacted every
# half second until every agent has (a compaction at one instant could fall
# just after a watch made past the writes: then that agent has nothing to relist)
listed_again() { [ "$(clab_cluster_field "$1" relists)" -gt "${relists[$1]:-999999}" ] 2>/dev/null; }
out=''
for i in $(seq 120); do
  clab_etcd_call /v3/kv/put "{\"key\":\"$(printf /other/k | base64)\",\"value\":\"$(printf %d "$i" | base64)\"}" >/dev/null
  out=$(clab_compact)
  listed_again 1 && listed_again 2 && listed_again 3 && break
  sleep 0.5
done
expect_contains "the lab compacts etcd and defragments it ($out)" "$out" "defragmented"
for n in 1 2 3; do
  expect_ok "node $n listed again after the compaction (relists ${relists[$n]} -> $(clab_cluster_field $n relists))" listed_again $n
  expect_eq "node $n is connected" "$(clab_cluster_field $n connected)" true
done
rev=$(clab_zs 1 apply -f "$work/guest.yaml" -o json | cluster_rev)
expect_ok "a change after the compaction is applied on every node (revision $rev)" all_applied "${rev:-999999}"
expect_ok "and enforced: guest (n3) -> web (n1):80 allowed" clab_probe guest web http 80
rev=$(clab_zs 1 delete -f "$work/guest.yaml" -o json | cluster_rev)
expect_ok "its delete too (revision $rev)" all_applied "${rev:-999999}"
expect_fail "guest (n3) -> web (n1):80 denied again" clab_probe guest web tcp 80

echo "== cluster status on each node lists the three nodes"
for n in 1 2 3; do
  got=$(clab_zs $n cluster status -o json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(" ".join(sorted(x["node"] for x in j["nodes"] if x["ttl"] > 0)), j["lag"], j["connected"])')
  expect_eq "node $n: three live nodes, no lag, connected" "$got" "$LAB-n1 $LAB-n2 $LAB-n3 0 True"
  expect_contains "node $n: the table names itself" "$(clab_zs $n cluster status 2>&1)" "node $LAB-n$n, etcd $CLAB_ETCD_IP:2379: connected"
done
expect_eq "identities still agree after the changes" "$(clab_workload_ids 3)" "$ids1"

clab_down
trap 'rm -rf "$work"' EXIT
e2e_nothing_left "$LAB" "$(clab_pin 1)"
for n in 2 3; do expect_ok "node $n's pin dir removed" test ! -e "$(clab_pin $n)"; done
expect_ok "the lab's run directory removed" test ! -e "$(clab_dir)"
e2e_summary
