# Shared by the three-node cluster tests (cluster_nodes.sh, cluster_failures.sh):
# the lab of scripts/lib/cluster_lab.sh under a per-run name, its cleanup,
# and the questions the tests ask the agents.
# shellcheck shell=bash

# cluster_setup PATH/TO/zeroseg LETTER: root and etcd checked, the lab's
# functions loaded under LAB=zs-LETTER<pid>, a cleanup trap set
cluster_setup() {
  e2e_require_root
  if ! command -v etcd >/dev/null; then
    e2e_skip "needs etcd (Debian's etcd-server; scripts/install-deps.sh installs it)"
  fi
  ZEROSEG=$(realpath "$1")
  LAB=zs-$2$(($$ % 100000))
  : "${CLAB_LEASE_TTL:=5s}"
  # shellcheck source=../../scripts/lib/cluster_lab.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/cluster_lab.sh"
  work=$(mktemp -d)
  trap 'clab_down; rm -rf "$work"' EXIT
}

# the policy every cluster test starts from, applied once (through node 1):
# web (node 1) takes HTTP from client (node 3) and api (node 2); api (node 2)
# takes HTTP from client. guest (node 3) and db, batch: nothing.
cluster_policy_yaml() {
  cat <<'YAML'
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
  ingress:
  - from: [{selector: {matchLabels: {tier: client}}}]
    ports: [{port: 80, protocol: TCP}]
YAML
}
# a change: guest's namespace may reach web too
cluster_guest_policy_yaml() {
  cat <<'YAML'
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: web-from-guest, namespace: prod}
spec:
  selector: {matchLabels: {tier: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {env: guest}}}]
    ports: [{port: 80, protocol: TCP}]
YAML
}

cluster_rev() { python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster_revision"])' 2>/dev/null; }
# applied_at NODE REV: node NODE's agent has applied etcd revision REV (within 15 s)
applied_at() {
  local rev
  for _ in $(seq 150); do
    rev=$(clab_cluster_field "$1" applied_revision)
    [ -n "$rev" ] && [ "$rev" != null ] && [ "$rev" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
# all_applied REV: every node has
all_applied() { applied_at 1 "$1" && applied_at 2 "$1" && applied_at 3 "$1"; }

# workload_ids NODE: "ns/name=identity ..." of every workload node NODE knows, sorted
workload_ids() {
  clab_zs "$1" workload list -o json 2>/dev/null | python3 -c '
import json, sys
print(" ".join(sorted("%s/%s=%s" % (w["namespace"], w["name"], w["identity"]) for w in json.load(sys.stdin))))'
}
# identity_of NODE WORKLOAD: its identity as node NODE knows it ("" when it does not)
identity_of() {
  clab_zs "$1" workload list -o json 2>/dev/null | python3 -c '
import json, sys
ns, name = sys.argv[1].split("/")
print(" ".join(str(w["identity"]) for w in json.load(sys.stdin) if w["namespace"] == ns and w["name"] == name))' "$2"
}
# ipcache_id NODE IP: the identity of IP's host entry in node NODE's pinned ipcache ("" when none)
ipcache_id() { clab_zs "$1" bpf dump ipcache 2>/dev/null | awk -v p="$2" '$1 == p "/32" || $1 == p "/128" {print $2}'; }
# deny_identity NODE SRC_IP DST_IP: the source identity of node NODE's latest
# deny record from SRC_IP to DST_IP ("" when none within 5 s)
deny_identity() {
  local id
  for _ in $(seq 25); do
    id=$(clab_zs "$1" flows --last 500 -o json --verdict denied 2>/dev/null | python3 -c '
import json, sys
last = ""
for line in sys.stdin:
    try: f = json.loads(line)
    except ValueError: continue
    if f.get("source", {}).get("ip") == sys.argv[1] and f.get("destination", {}).get("ip") == sys.argv[2]:
        last = str(f["source"].get("identity", ""))
print(last)' "$2" "$3")
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.2
  done
  return 1
}
