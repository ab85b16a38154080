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

# etcd behind mutual TLS: the underlay is the attacker VM's network too (and
# a workload's packets reach its node's addresses), so an etcd that answers
# plain http there hands anyone on it every policy and workload of the
# cluster to rewrite. Only a holder of a certificate of the lab's CA gets an
# answer: etcd's server certificate and key go to node1 alone, a client
# certificate to each node, nothing to the attacker VM.
VM_ETCD_NODE=node1
# shellcheck disable=SC2034  # (read by common.sh and node.sh, which source this)
VM_TLS_DIR=/etc/zeroseg/tls   # in a node: ca.pem, client.pem, client-key.pem (node1: server.pem, server-key.pem)

# vm_tls_sign CADIR NAME CN EXTENSIONS OUTDIR: NAME.pem and NAME-key.pem in OUTDIR
vm_tls_sign() {
  local ca=$1
  printf '%s\n' "$4" >"$ca/$2.ext"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$5/$2-key.pem" -out "$ca/$2.csr" 2>/dev/null &&
    openssl x509 -req -in "$ca/$2.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca-key.pem" -CAcreateserial -days 30 \
      -extfile "$ca/$2.ext" -out "$5/$2.pem" 2>/dev/null
}

# vm_tls_make DIR: on the host, at stage time: DIR/NODE/ for each node, the
# CA's key thrown away once all is signed (no one can mint another client)
vm_tls_make() {
  local d=$1 ca n ext
  ca=$(mktemp -d)
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=zeroseg-vm-lab-ca" \
    -keyout "$ca/ca-key.pem" -out "$ca/ca.pem" 2>/dev/null || { rm -rf "$ca"; return 1; }
  for n in node1 node2; do
    mkdir -p "$d/$n"
    cp "$ca/ca.pem" "$d/$n/"
    ext="extendedKeyUsage=clientAuth"
    vm_tls_sign "$ca" client "$n" "$ext" "$d/$n" || { rm -rf "$ca"; return 1; }
    if [ "$n" = "$VM_ETCD_NODE" ]; then
      # (clientAuth too: etcd's JSON gateway dials etcd itself with it)
      ext="extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:${VM_NODE_IP[$n]},IP:127.0.0.1"
      vm_tls_sign "$ca" server "$n" "$ext" "$d/$n" || { rm -rf "$ca"; return 1; }
    fi
    chmod 0600 "$d/$n"/*-key.pem
  done
  rm -rf "$ca"
}

# vm_etcd_args IP TLSDIR: how node1 runs etcd (provision/node.sh): https
# only, a client certificate of the lab's CA required
vm_etcd_args() {
  local ip=$1 t=$2
  printf '%s\n' --listen-client-urls "https://$ip:2379,https://127.0.0.1:2379" \
    --advertise-client-urls "https://$ip:2379" \
    --cert-file "$t/server.pem" --key-file "$t/server-key.pem" --trusted-ca-file "$t/ca.pem" --client-cert-auth \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380
}
# vm_etcd_curl TLSDIR: curl's options for a node's own requests to etcd
vm_etcd_curl() { printf '%s\n' --cacert "$1/ca.pem" --cert "$1/client.pem" --key "$1/client-key.pem"; }
