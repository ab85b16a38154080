#!/usr/bin/env bash
# Cluster mode end to end: a real etcd and two agents, each in a node
# namespace of its own (its own pin dir, state dir and socket), joined by a
# routed underlay; etcd runs on node A, as the lab puts it on the first node.
#
#   cli ns (10.77.2.2) -- node B (agent B) == underlay 10.79.0.0/24 == node A (agent A, etcd) -- web ns (10.77.1.2)
#
# Checks: a policy applied through agent B is enforced by agent A on real
# packets; A knows B's workload by its labels (its address is not `world`
# there) and numbers it as B does; a delete through A reaches both; with
# etcd gone, enforcement holds, apply fails clearly and status says so.
#
# Usage: cluster_basic.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
if ! command -v etcd >/dev/null; then
  e2e_skip "needs etcd (Debian's etcd-server; scripts/install-deps.sh installs it)"
fi

ZS=$(realpath "$1")
tag=zs-c$(($$ % 100000))
A=$tag-a B=$tag-b
work=$(mktemp -d)
ETCD_URL=etcd://10.79.0.1:2379
etcd_pid='' a_pid='' b_pid=''

cleanup() {
  for p in $a_pid $b_pid $etcd_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for n in a b; do
    [ -e "/run/netns/$tag-$n" ] && nsenter --net="/run/netns/$tag-$n" "$ZS" bpf uninstall --bpf-pin-dir "/sys/fs/bpf/$tag-$n" >/dev/null 2>&1
    rm -rf "/sys/fs/bpf/$tag-$n"
  done
  for ns in $(ip netns list | awk '{print $1}' | grep "^$tag-"); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

zs_on() { local n=$1; shift; nsenter --net="/run/netns/$tag-$n" "$ZS" "$@" --socket "$work/$n.sock"; }
# cluster_field n FIELD: the agent's cluster status field (status -o json), "" when none
cluster_field() {
  zs_on "$1" status -o json --bpf-pin-dir "/sys/fs/bpf/$tag-$1" 2>/dev/null |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["agent"]["cluster"][sys.argv[1]]))' "$2" 2>/dev/null
}
start_etcd() {
  nsenter --net="/run/netns/$A" etcd --name "$tag-etcd" --data-dir "$work/$tag-etcd" \
    --listen-client-urls http://10.79.0.1:2379 --advertise-client-urls http://10.79.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$tag-etcd=http://127.0.0.1:2380" --log-level warn --logger zap >>"$work/etcd.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 100); do
    nsenter --net="/run/netns/$A" curl -s -m 1 -X POST -d '{"key":"AA=="}' http://10.79.0.1:2379/v3/kv/range >/dev/null && return 0
    sleep 0.2
  done
  echo "etcd did not come up:"; cat "$work/etcd.log"; return 1
}
start_agent() {  # n
  local n=$1
  nsenter --net="/run/netns/$tag-$n" "$ZS" agent --socket "$work/$n.sock" --bpf-pin-dir "/sys/fs/bpf/$tag-$n" \
    --state-dir "$work/$n-state" --cluster "$ETCD_URL" --node-name "$tag-$n" --cluster-lease-ttl 5s --metrics-listen 127.0.0.1:9963 \
    >>"$work/agent-$n.log" 2>&1 &
  eval "${n}_pid=$!"
  for _ in $(seq 100); do
    [ -S "$work/$n.sock" ] && [ "$(cluster_field "$n" connected)" = true ] && return 0
    sleep 0.1
  done
  echo "agent $n did not come up:"; cat "$work/agent-$n.log"; return 1
}
# applied_at n REV: agent n has applied etcd revision REV (within 10 s)
applied_at() {
  local rev
  for _ in $(seq 100); do
    rev=$(cluster_field "$1" applied_revision)
    [ -n "$rev" ] && [ "$rev" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
cluster_rev() { python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster_revision"])'; }
tcp() { ip netns exec "$tag-cli" ncat -z -w 1 10.77.1.2 "$1" >/dev/null 2>&1; }

# --- topology --------------------------------------------------------------
set -e
for n in a b; do
  ip netns add "$tag-$n"; ip -n "$tag-$n" link set lo up
  ip netns exec "$tag-$n" sysctl -qw net.ipv4.ip_forward=1
done
ip link add "$tag-ua" netns "$A" type veth peer name "$tag-ub" netns "$B"
ip -n "$A" addr add 10.79.0.1/24 dev "$tag-ua"; ip -n "$A" link set "$tag-ua" up
ip -n "$B" addr add 10.79.0.2/24 dev "$tag-ub"; ip -n "$B" link set "$tag-ub" up
workload_ns() {  # NAME NODE INDEX
  ip netns add "$tag-$1"; ip -n "$tag-$1" link set lo up
  ip link add "$tag-$1h" netns "$tag-$2" type veth peer name "$tag-$1" netns "$tag-$1"
  ip -n "$tag-$2" addr add "10.77.$3.1/24" dev "$tag-$1h"; ip -n "$tag-$2" link set "$tag-$1h" up
  ip -n "$tag-$1" addr add "10.77.$3.2/24" dev "$tag-$1"; ip -n "$tag-$1" link set "$tag-$1" up
  ip -n "$tag-$1" route add default via "10.77.$3.1"
}
workload_ns web a 1
workload_ns cli b 2
ip -n "$A" route add 10.77.2.0/24 via 10.79.0.2
ip -n "$B" route add 10.77.1.0/24 via 10.79.0.1
for port in 80 8080; do ip netns exec "$tag-web" ncat -lk "$port" --exec /bin/cat >/dev/null 2>&1 & done
set +e
sleep 0.3
ip netns exec "$tag-cli" ping -c1 -W3 10.77.1.2 >/dev/null 2>&1

start_etcd || exit 1
start_agent a || exit 1

cat >"$work/web.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {interface: $tag-webh, ips: [10.77.1.2]}
YAML
cat >"$work/cli.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: cli, namespace: prod, labels: {app: cli}}
spec: {interface: $tag-clih, ips: [10.77.2.2]}
YAML
cat >"$work/policy.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: web-from-cli, namespace: prod}
spec:
  selector: {matchLabels: {app: web}}
  ingress:
  - from: [{selector: {matchLabels: {app: cli}}}]
    ports: [{port: 80, protocol: TCP}]
YAML

cat >"$work/tmp.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: tmp, namespace: prod, labels: {app: tmp}}
spec: {ips: [10.77.9.9]}
YAML

echo "== workloads, each through its own node; B joins after A's churn"
# A numbers tmp, then web, then drops tmp: a node numbering on its own
# would give web tmp's number when it sees web alone (B, joining later)
expect_ok "tmp applied through A" zs_on a apply -f "$work/tmp.yaml"
rev=$(zs_on a apply -f "$work/web.yaml" -o json | cluster_rev)
expect_ok "web applied through A, an etcd revision returned" test "${rev:-0}" -gt 0
expect_ok "tmp deleted through A" zs_on a delete -f "$work/tmp.yaml"
start_agent b || exit 1
rev=$(zs_on b apply -f "$work/cli.yaml" -o json | cluster_rev)
expect_ok "cli applied through B reaches A" applied_at a "${rev:-999999}"
expect_ok "no policy yet: cli -> web:8080 open" tcp 8080

echo "== a policy applied through B, enforced by A"
rev=$(zs_on b apply -f "$work/policy.yaml" -o json | cluster_rev)
expect_ok "the apply through B returned an etcd revision" test "${rev:-0}" -gt 0
expect_ok "A applied that revision" applied_at a "${rev:-999999}"
expect_contains "A holds the policy" "$(zs_on a policy list 2>&1)" "web-from-cli"
expect_ok "cli (B's workload, known on A by its labels) -> web:80 allowed" tcp 80
expect_fail "cli -> web:8080 denied by the policy B applied" tcp 8080

echo "== zeroseg cluster status"
cs=$(zs_on a cluster status 2>&1)
expect_contains "names this node and etcd" "$cs" "node $A, etcd 10.79.0.1:2379: connected"
expect_contains "lists node B with its lease" "$cs" "$B "
expect_contains "and node A" "$cs" "$A "
# the lag counts the revisions the watch delivers (the objects: the nodes' applied/ reports are not watched): 0 once A applied them
lag_zero() {
  for _ in $(seq 50); do
    [ "$(zs_on a cluster status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["lag"])')" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
expect_ok "no lag once applied" lag_zero

echo "== workload list names each workload's node; apply --wait-all"
wl=$(zs_on a workload list 2>&1)
expect_contains "workload list has a NODE column" "$(echo "$wl" | head -1)" "NODE"
expect_ok "web is A's" grep -Eq "^prod +web +$A " <<<"$wl"
expect_ok "cli is B's" grep -Eq "^prod +cli +$B " <<<"$wl"
expect_eq "and -o json says so" "$(zs_on a workload list -o json | python3 -c 'import json,sys; print(",".join(sorted(w["name"]+"@"+w["node"] for w in json.load(sys.stdin))))')" "cli@$B,web@$A"
out=$(zs_on a apply -f "$work/policy.yaml" --wait-all -o json 2>&1)
expect_eq "--wait-all: both live nodes reported the apply's revision" "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(",".join(sorted(n for n,r in d["nodes"].items() if r >= d["cluster_revision"])))' "$out" 2>&1)" "$(printf '%s\n' "$A" "$B" | sort | paste -sd,)"

echo "== identities agree"
id_of() {  # n LABEL=VALUE: the identity of the workload set with that label
  zs_on "$1" identity list -o json | python3 -c '
import json, sys
k, v = sys.argv[1].split("=")
print(" ".join(str(i["identity"]) for i in json.load(sys.stdin) if (i.get("labels") or {}).get(k) == v))' "$2"
}
cli_a=$(id_of a app=cli) cli_b=$(id_of b app=cli) web_a=$(id_of a app=web) web_b=$(id_of b app=web)
expect_ok "A numbers B's workload cli ($cli_a)" test -n "$cli_a"
expect_eq "cli's identity on A equals B's" "$cli_a" "$cli_b"
expect_eq "web's identity on B equals A's" "$web_b" "$web_a"
expect_ok "web and cli differ" test "$web_a" != "$cli_a"

echo "== a delete through A reaches both"
rev=$(zs_on a delete -f "$work/policy.yaml" -o json | cluster_rev)
expect_ok "B applied the delete" applied_at b "${rev:-999999}"
expect_ok "A enforces the delete: cli -> web:8080 open again" tcp 8080
expect_eq "B holds no policy" "$(zs_on b policy list -o json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "0"
rev=$(zs_on b apply -f "$work/policy.yaml" -o json | cluster_rev)
expect_ok "policy back (through B), applied on A" applied_at a "${rev:-999999}"
expect_fail "cli -> web:8080 denied again" tcp 8080

echo "== etcd gone"
kill "$etcd_pid"; wait "$etcd_pid" 2>/dev/null; etcd_pid=
out=$(zs_on a apply -f "$work/web.yaml" 2>&1); code=$?
expect_ok "apply fails without etcd" test "$code" != 0
expect_contains "and says why" "$out" "cluster store unavailable, nothing applied"
expect_ok "enforcement holds: web:80 allowed" tcp 80
expect_fail "enforcement holds: web:8080 denied" tcp 8080
for _ in $(seq 100); do [ "$(cluster_field a connected)" = false ] && break; sleep 0.2; done
expect_eq "status shows the outage" "$(cluster_field a connected)" false
expect_contains "the metrics too" "$(nsenter --net="/run/netns/$A" curl -s http://127.0.0.1:9963/metrics)" "zeroseg_cluster_up 0"
expect_contains "and why" "$(cluster_field a error)" "etcd unreachable"
expect_contains "the text status says so" "$(zs_on a status --bpf-pin-dir "/sys/fs/bpf/$tag-a" 2>&1)" "; OUTAGE since"
zs_on a status --bpf-pin-dir "/sys/fs/bpf/$tag-a" >/dev/null 2>&1; code=$?
expect_eq "status exits 1 (degraded) during the outage" "$code" 1
expect_ok "both agents still run" kill -0 "$a_pid" "$b_pid"

echo "== etcd back"
start_etcd || exit 1
for _ in $(seq 150); do [ "$(cluster_field a connected)" = true ] && break; sleep 0.2; done
expect_eq "A reconnected" "$(cluster_field a connected)" true
nsenter --net="/run/netns/$A" curl -s http://127.0.0.1:9963/metrics >"$work/metrics.txt"
expect_contains "zeroseg_cluster_up says so" "$(cat "$work/metrics.txt")" "zeroseg_cluster_up 1"
# an agent in cluster mode exports every metric the dashboard and the
# alert rules name, the cluster's too (e2e.telemetry checks all but those)
if python3 "$here/../lint/metric_names.py" "$work/metrics.txt" \
     "$here/../../deploy/grafana-dashboard.json" "$here/../../deploy/prometheus-rules.yml" >"$work/names.txt" 2>&1; then
  pass "dashboard and alert rules name metrics a cluster-mode agent exports"
else fail "dashboard and alert rules: $(cat "$work/names.txt")"; fi
expect_ok "applies work again" zs_on a apply -f "$work/web.yaml"
expect_fail "and the policy still holds: web:8080 denied" tcp 8080

echo "== node B dies (SIGKILL): its workloads go after the lease TTL, and come back with it"
kill -KILL "$b_pid"; wait "$b_pid" 2>/dev/null; b_pid=
knows_cli() { [ -n "$(id_of a app=cli)" ]; }
for _ in $(seq 150); do knows_cli || break; sleep 0.2; done
expect_fail "A forgot B's workload cli after B's lease ran out" knows_cli
expect_fail "cli's address is no longer cli on A: web:80 denied" tcp 80
start_agent b || exit 1
for _ in $(seq 150); do knows_cli && break; sleep 0.2; done
expect_ok "B restarted: A knows cli again" knows_cli
expect_eq "with the same identity" "$(id_of a app=cli)" "$cli_b"
expect_ok "cli -> web:80 allowed again" tcp 80

for p in $a_pid $b_pid $etcd_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
a_pid='' b_pid='' etcd_pid=''
cleanup
e2e_nothing_left "$tag" "/sys/fs/bpf/$tag-a"
e2e_summary
