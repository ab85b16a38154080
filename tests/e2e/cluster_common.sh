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

# deny_identity NODE SRC_IP DST_IP: the source identity of node NODE's latest
# deny record from SRC_IP to DST_IP ("" when none within 5 s); the other
# questions are the lab's (clab_identity_of, clab_ipcache_id, ...)
deny_identity() {
  local got
  got=$(clab_last_deny "$@")
  echo "${got%% *}"
}
