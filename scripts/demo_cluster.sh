#!/usr/bin/env bash
# zeroseg's demo on many hosts (scripts/demo.sh --cluster): the three-node
# lab with etcd (scripts/lib/cluster_lab.sh), one policy applied once and
# enforced on every node, a workload added on node 2, node 2's agent killed,
# a scan across nodes, and a quarantine on node 3 cutting a live connection
# from node 1. Every verdict is checked: the demo exits 0 only if each step
# held, and it leaves nothing behind (namespaces, processes, etcd's data,
# pins), also on Ctrl-C or failure. Non-interactive.
#
# Environment: ZEROSEG the binary (default: build it), DEMO_LAB the lab's
# name (default zs-cdemo), DEMO_EVIDENCE a directory where each node's flow
# log, alerts and workloads are copied before the lab comes down (what
# e2e.demo_cluster checks the demo's claims against).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

[ "$(id -u)" = 0 ] || { echo "demo.sh --cluster: run as root (namespaces, BPF)" >&2; exit 1; }

# shellcheck source=lib/colour.sh
source scripts/lib/colour.sh
step=0
STEPS=8
say() { step=$((step + 1)); printf '\n%s==> %d/%d %s%s\n' "$bold" "$step" "$STEPS" "$*" "$plain"; }
note() { printf '    %s\n' "$*"; }
indent() { sed 's/^/    /'; }
unexpected=0
flag() { printf '    %s<- %s%s\n' "$boldred" "$*" "$plain"; unexpected=$((unexpected + 1)); }

say "build"
if [ -z "${ZEROSEG:-}" ]; then
  if [ ! -x build/userspace/zeroseg ] || ! command -v etcd >/dev/null || ! command -v nmap >/dev/null; then
    bash scripts/install-deps.sh
    cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
  fi
  ZEROSEG=$root/build/userspace/zeroseg
fi
LAB=${DEMO_LAB:-zs-cdemo}
# a short lease, so the demo waits seconds for a dead node (the default is 15 s)
CLAB_LEASE_TTL=8s
# shellcheck source=lib/cluster_lab.sh
source scripts/lib/cluster_lab.sh
note "$("$ZEROSEG" --version), $(etcd --version | head -1)"

keep_evidence() {
  local n
  mkdir -p "$DEMO_EVIDENCE"
  for n in 1 2 3; do
    cp "$(clab_dir)/n$n/flows.json" "$DEMO_EVIDENCE/flows-n$n.json" 2>/dev/null || true
    clab_zs $n alerts -o json >"$DEMO_EVIDENCE/alerts-n$n.json" 2>/dev/null || true
    clab_zs $n workload list -o json >"$DEMO_EVIDENCE/workloads-n$n.json" 2>/dev/null || true
  done
}
cleanup() {
  [ -n "${conn_pid:-}" ] && kill "$conn_pid" 2>/dev/null
  rm -rf "${fifo_dir:-}"
  [ -n "${DEMO_EVIDENCE:-}" ] && [ -e "/run/netns/$LAB-u" ] && keep_evidence
  clab_down
}
trap cleanup EXIT
trap 'echo "demo.sh --cluster: failed at line $LINENO" >&2' ERR
trap 'exit 130' INT TERM
clab_down  # a run interrupted before

# probe EXPECTED DESCRIPTION SRC DST tcp|http [PORT] [FAMILY]: one aligned line;
# a verdict other than EXPECTED is flagged and fails the demo
probe() {
  local want=$1 what=$2 got=denied color=$red
  shift 2
  if clab_probe "$@"; then got=allowed color=$green; fi
  printf '    %-50s %s%s%s' "$what" "$color" "$got" "$plain"
  if [ "$got" != "$want" ]; then printf '  %s<- expected %s%s' "$boldred" "$want" "$plain"; unexpected=$((unexpected + 1)); fi
  printf '\n'
}
probes() {  # the verdicts expected of a flat network (flat) or of the policy
  local d=allowed; [ "$1" = flat ] || d=denied
  probe allowed "prod/client (n3) -> prod/web (n1)    http"        client web http 80
  probe $d      "guest/guest (n3) -> prod/web (n1)    tcp/80"      guest web tcp 80
  probe allowed "prod/api    (n2) -> prod/web (n1)    http v6"     api web http 80 6
  probe $d      "prod/batch  (n2) -> prod/web (n1)    tcp/80 v6"   batch web tcp 80 6
  probe allowed "prod/web    (n1) -> prod/api (n2)    tcp/8080"    web api tcp 8080
  probe $d      "prod/db     (n1) -> prod/api (n2)    tcp/8080"    db api tcp 8080
}
# py EXPR ARGS...: a python expression over `j`, the JSON on stdin
py() { python3 -c "import json, sys; j = json.load(sys.stdin); $1" "${@:2}"; }
# (what the agents know: clab_identity_of, clab_workload_ids, clab_ipcache_id,
# clab_last_deny of scripts/lib/cluster_lab.sh)
cluster_line() {  # NODE: "node N: connected, revision R applied, lag L, K live nodes"
  clab_zs "$1" cluster status -o json 2>/dev/null | py '
live = sorted(x["node"] for x in j["nodes"] if x["ttl"] > 0)
print("%s %s %s %d" % ("yes" if j["connected"] else "no", j["applied_revision"], j["lag"], len(live)))' || true
}

say "the lab: 3 nodes on a routed underlay, etcd, an agent per node (--cluster), 2 workloads behind each"
clab_up
clab_status | indent
note ""
note "zeroseg cluster status (on node 1): the nodes and their leases"
clab_zs 1 cluster status | indent
note ""
note "no policy yet: a flat network, every workload reaches every other across the nodes"
probes flat

say "one policy, applied once through node 1: web <- client, api; api <- web; client <- web"
cat >"$(clab_dir)/policy.yaml" <<'YAML'
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: web-in, namespace: prod}
spec:
  selector: {matchLabels: {tier: web}}
  ingress:
  - from: [{selector: {matchLabels: {tier: client}}}, {selector: {matchLabels: {tier: api}}}]
    ports: [{port: 80, protocol: TCP}]
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: api-in, namespace: prod}
spec:
  selector: {matchLabels: {tier: api}}
  ingress: [{from: [{selector: {matchLabels: {tier: web}}}], ports: [{port: 8080, protocol: TCP}]}]
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: client-in, namespace: prod}
spec:
  selector: {matchLabels: {tier: client}}
  ingress: [{from: [{selector: {matchLabels: {tier: web}}}], ports: [{port: 8080, protocol: TCP}]}]
YAML
note "zeroseg apply --wait-all -f policy.yaml (on node 1):"
clab_zs 1 apply --wait-all -f "$(clab_dir)/policy.yaml" | indent
probes policy
ids1=$(clab_workload_ids 1)
if [ -n "$ids1" ] && [ "$(clab_workload_ids 2)" = "$ids1" ] && [ "$(clab_workload_ids 3)" = "$ids1" ]; then
  note "every node numbers every workload alike (identities from etcd): ${ids1//prod\//}"
else
  flag "the nodes number the workloads differently: 1: $ids1; 2: $(clab_workload_ids 2); 3: $(clab_workload_ids 3)"
fi
guest_id=$(clab_identity_of 3 guest/guest)
read -r got_id got_name got_why <<<"$(clab_last_deny 1 "$(clab_ip guest)" "$(clab_ip web)")"
note "node 1 denied guest's packets by guest's identity, learned from node 3 through etcd:"
note "  from ${got_name:-?} (identity ${got_id:-none}): ${got_why:-no deny record}"
[ -n "$guest_id" ] && [ "${got_id:-}" = "$guest_id" ] || flag "expected guest's identity ($guest_id) in node 1's deny"

say "a workload added on node 2: prod/api-2 (tier=api), applied through node 2"
CLAB_WORKLOADS=("${CLAB_WORKLOADS[@]:0:4}" "2 prod api-2 tier=api" "${CLAB_WORKLOADS[@]:4}")
clab_workload 2 3 prod api-2
for _ in $(seq 50); do clab_exec prod/api-2 ncat -z -w 1 127.0.0.1 8080 2>/dev/null && break; sleep 0.1; done
cat >"$(clab_dir)/api-2.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: api-2, namespace: prod, labels: {tier: api}}
spec: {interface: $LAB-2w3, ips: [10.82.3.2, "fd82:3::2"]}
YAML
clab_zs 2 apply --wait-all -f "$(clab_dir)/api-2.yaml" | indent
api_id=$(clab_identity_of 1 prod/api)
got=$(clab_ipcache_id 1 10.82.3.2)
note "node 1's ipcache: 10.82.3.2 -> identity ${got:-none} (prod/api's: the same labels, the same number)"
[ -n "$api_id" ] && [ "$got" = "$api_id" ] || flag "expected api's identity ($api_id)"
probe allowed "prod/web    (n1) -> prod/api-2 (n2)  tcp/8080"      web api-2 tcp 8080
probe allowed "prod/web    (n1) -> prod/api-2 (n2)  tcp/8080 v6"   web api-2 tcp 8080 6
probe denied  "prod/db     (n1) -> prod/api-2 (n2)  tcp/8080"      db api-2 tcp 8080

say "node 2's agent killed (SIGKILL, a crash): its pins keep enforcing; after the lease TTL ($CLAB_LEASE_TTL) the others drop its workloads"
clab_agent_kill 2 KILL
note "node 2's agent is gone; its programs and maps stay ($(clab_pin 2)):"
probe allowed "prod/web    (n1) -> prod/api (n2)    tcp/8080"      web api tcp 8080
probe denied  "prod/db     (n1) -> prod/api (n2)    tcp/8080"      db api tcp 8080
killed=$(date +%s)
dropped() { [ -z "$(clab_identity_of "$1" prod/api)" ] && [ -z "$(clab_identity_of "$1" prod/api-2)" ] && [ -z "$(clab_ipcache_id "$1" "$(clab_ip api)")" ]; }
for _ in $(seq 200); do dropped 1 && dropped 3 && break; sleep 0.2; done
if dropped 1 && dropped 3; then
  note "after $(($(date +%s) - killed)) s nodes 1 and 3 dropped node 2's workloads (api, api-2, batch); node 1 now:"
else
  flag "nodes 1 and 3 still know node 2's workloads $(($(date +%s) - killed)) s after the kill"
fi
clab_zs 1 cluster status | sed -n '3,$p' | grep -v '^identities' | indent
probe denied  "prod/api    (n2) -> prod/web (n1)    tcp/80"        api web tcp 80
read -r got_id got_name _ <<<"$(clab_last_deny 1 "$(clab_ip api)" "$(clab_ip web)")"
note "node 1 judged api's address as ${got_name:-?} (identity ${got_id:-none}): it is world there now"
[ "${got_id:-}" = 2 ] || flag "expected world (2)"
probe allowed "prod/web    (n1) -> prod/api (n2)    tcp/8080"      web api tcp 8080
note "(the other way: node 2's pins, still enforcing, know web and let it in)"
note ""
note "node 2's agent started again: it writes its workloads back under a new lease"
clab_agent_start 2
for _ in $(seq 100); do [ "$(clab_identity_of 1 prod/api)" = "$api_id" ] && break; sleep 0.2; done
[ "$(clab_identity_of 1 prod/api)" = "$api_id" ] && note "node 1 knows prod/api again, by the same identity ($api_id)" ||
  flag "node 1 does not know prod/api as $api_id again"
probe allowed "prod/api    (n2) -> prod/web (n1)    http"          api web http 80

say "prod/web (n1) is compromised: it scans prod/api on node 2 (nmap -sT, ports 1-100 and 8080)"
clab_exec web nmap -sT -Pn -n --max-retries 0 --host-timeout 30s -p 1-100,8080 "$(clab_ip api)" 2>&1 |
  grep -E "^Nmap scan report|/tcp +open" | indent || true
note "(only what the policy lets web reach answers: 8080)"
alerts=''
for _ in $(seq 25); do
  alerts=$(clab_zs 2 alerts -o json 2>/dev/null || true)
  grep -q '"detector":"port-scan".*"ip":"10.81.1.2","labels":{[^}]*},"name":"prod/web"' <<<"$alerts" && break
  sleep 0.2
done
note "the alerts on node 2, the scanned node (zeroseg alerts there):"
clab_zs 2 alerts | indent
grep -q '"detector":"port-scan".*"ip":"10.81.1.2","labels":{[^}]*},"name":"prod/web"' <<<"$alerts" ||
  flag "expected a port-scan alert from prod/web on node 2"

say "quarantine prod/client on node 3: a live connection from prod/web (n1) is cut"
fifo_dir=$(mktemp -d)
mkfifo "$fifo_dir/in" "$fifo_dir/out"
# ip execs ncat: $! is ncat, which the kill below ends
ip netns exec "$(clab_netns web)" ncat "$(clab_ip client)" 8080 <"$fifo_dir/in" >"$fifo_dir/out" 2>/dev/null &
conn_pid=$!
exec 7>"$fifo_dir/in" 8<"$fifo_dir/out"
echo_line() { echo "$1" >&7 && IFS= read -r -t 2 reply <&8 && [ "$reply" = "$1" ]; }
if echo_line hello; then note "an open connection prod/web (n1) -> prod/client (n3):8080 echoes"; else flag "the connection did not echo"; fi
note "zeroseg quarantine add prod/client --expires 1h (on node 3):"
clab_zs 3 quarantine add prod/client --expires 1h | indent
if echo_line again; then flag "the open connection still echoes: expected it cut"; else
  note "the open connection is cut at once (node 3 judged its flow again)"
fi
probe denied  "prod/web    (n1) -> prod/client (n3) tcp/8080"      web client tcp 8080
probe denied  "prod/web    (n1) -> prod/client (n3) tcp/8080 v6"   web client tcp 8080 6
exec 7>&- 8<&-
kill "$conn_pid" 2>/dev/null || true
conn_pid=''
clab_zs 3 quarantine remove prod/client | indent
probe allowed "prod/web    (n1) -> prod/client (n3) tcp/8080"      web client tcp 8080

say "every node connected to etcd, all caught up; then the lab comes down"
for n in 1 2 3; do
  for _ in $(seq 50); do read -r up rev lag live <<<"$(cluster_line $n)"; [ "${lag:-1}" = 0 ] && break; sleep 0.2; done
  printf '    node %s: connected %-5s revision %-5s lag %-3s %s live nodes\n' "$n" "${up:-?}" "${rev:-?}" "${lag:-?}" "${live:-?}"
  [ "${up:-}" = yes ] && [ "${lag:-}" = 0 ] && [ "${live:-}" = 3 ] || flag "expected connected, lag 0, 3 live nodes"
done
[ -n "${DEMO_EVIDENCE:-}" ] && keep_evidence
trap - EXIT
clab_down
left=$(ip netns list | awk '{print $1}' | grep -c "^$LAB-" || true)
for n in 1 2 3; do [ -e "$(clab_pin $n)" ] && left=$((left + 1)); done
[ -e "$(clab_dir)" ] && left=$((left + 1))
if [ "$left" = 0 ]; then note "nothing left: namespaces, agents, etcd and its data, pins removed"; else
  flag "$left namespaces, pin or run directories left behind"
fi
if [ "$unexpected" -gt 0 ]; then
  printf '\ndemo: %d steps did not hold: see the flagged lines\n' "$unexpected"
  exit 1
fi
printf '\ndemo done: every step held\n'
