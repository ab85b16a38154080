# The VM lab's layout, shared by the provisioning scripts and run-checks.sh:
# which workload lives on which node, its index, address and labels (the
# same workloads and addresses as scripts/lib/lab.sh's namespace lab).
# shellcheck shell=bash

# NODE NAMESPACE NAME LABEL INDEX
VM_WORKLOADS=(
  "node1 prod web tier=web 1"
  "node1 prod app tier=app 2"
  "node1 prod db tier=db 3"
  "node2 dev web tier=web 4"
  "node2 mgmt bastion role=bastion 5"
  "attacker guest attacker role=guest 6"
)
declare -A VM_NODE_IP=([node1]=192.168.77.11 [node2]=192.168.77.12 [attacker]=192.168.77.66)
# the underlay's IPv6 (provisioning adds it to eth1: Vagrant's private
# network is IPv4 only), over which the workloads' fd77:N::/64 are routed
declare -A VM_NODE_IP6=([node1]=fd77:ff::11 [node2]=fd77:ff::12 [attacker]=fd77:ff::66)
declare -A VM_NS_LABELS=([prod]="env: prod" [dev]="env: dev" [mgmt]="env: mgmt" [guest]="env: guest")
VM_LAB_IF=eth1   # the private network's interface in the VMs

# vm_objects_yaml NODE [cluster]: Namespaces and every Workload; those on
# NODE carry their interface (and get attached), the others only their
# addresses. In cluster mode only NODE's own (node1 also the attacker VM's):
# the other node's arrive through etcd.
vm_objects_yaml() {
  local node=$1 mode=${2:-} w wnode ns name label i
  for ns in prod dev mgmt guest; do
    printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {%s}}\n' "$ns" "${VM_NS_LABELS[$ns]}"
  done
  for w in "${VM_WORKLOADS[@]}"; do
    read -r wnode ns name label i <<<"$w"
    if [ "$mode" = cluster ] && [ "$wnode" != "$node" ]; then
      [ "$wnode" = attacker ] && [ "$node" = node1 ] || continue
    fi
    printf -- '---\napiVersion: zeroseg.io/v1\nkind: Workload\n'
    printf 'metadata: {name: %s, namespace: %s, labels: {%s: %s}}\n' "$name" "$ns" "${label%%=*}" "${label#*=}"
    printf 'spec:\n'
    [ "$wnode" = "$node" ] && [ "$wnode" != attacker ] && printf '  interface: zs-w%d\n' "$i"
    if [ "$wnode" = attacker ]; then printf '  ips: [%s, "%s"]\n' "${VM_NODE_IP[attacker]}" "${VM_NODE_IP6[attacker]}"
    else printf '  ips: [10.77.%d.2, "fd77:%d::2"]\n' "$i" "$i"; fi
  done
  # the node itself, on its lab interface
  printf -- '---\napiVersion: zeroseg.io/v1\nkind: Workload\n'
  printf 'metadata: {name: %s, namespace: mgmt, labels: {role: node}}\n' "$node"
  printf 'spec: {interface: %s, attach: host, ips: [%s, "%s"]}\n' "$VM_LAB_IF" "${VM_NODE_IP[$node]}" "${VM_NODE_IP6[$node]}"
}

# vm_underlay6 VM: the VM's IPv6 on the underlay, and a route to every
# workload prefix of the other VMs through the node that runs it
vm_underlay6() {
  local vm=$1 w wnode i
  ip -6 addr replace "${VM_NODE_IP6[$vm]}/64" dev "$VM_LAB_IF" nodad
  for w in "${VM_WORKLOADS[@]}"; do
    read -r wnode _ _ _ i <<<"$w"
    [ "$wnode" = "$vm" ] || [ "$wnode" = attacker ] && continue
    ip -6 route replace "fd77:$i::/64" via "${VM_NODE_IP6[$wnode]}" dev "$VM_LAB_IF"
  done
}
