#!/usr/bin/env bash
# A zeroseg node VM: its workloads as network namespaces behind veths (as a
# container runtime makes them), routes to the other node's workloads, the
# agent as a systemd service, and the lab's objects applied; in cluster mode
# etcd on node1 and each node applying only its own workloads.
#
# Usage: node.sh node1|node2
set -euo pipefail
node=$1
lab=/opt/zeroseg-lab   # common.sh put the lab's files there
# shellcheck source=topology.sh
source "$lab/topology.sh"

sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
vm_underlay6 "$node"
for w in "${VM_WORKLOADS[@]}"; do
  read -r wnode ns name _ i <<<"$w"
  if [ "$wnode" = "$node" ]; then
    netns="$ns-$name"
    [ -e "/run/netns/$netns" ] && continue # (a second run: made already)
    ip netns add "$netns"
    ip -n "$netns" link set lo up
    ip link add "zs-w$i" type veth peer name eth0 netns "$netns"
    ip addr add "10.77.$i.1/24" dev "zs-w$i"
    ip addr add "fd77:$i::1/64" dev "zs-w$i" nodad
    ip link set "zs-w$i" up
    ip -n "$netns" addr add "10.77.$i.2/24" dev eth0
    ip -n "$netns" addr add "fd77:$i::2/64" dev eth0 nodad
    ip -n "$netns" link set eth0 up
    ip -n "$netns" route add default via "10.77.$i.1"
    ip -n "$netns" -6 route add default via "fd77:$i::1"
    systemd-run --unit "zs-services-$ns-$name" ip netns exec "$netns" \
      python3 "$lab/lab_services.py" "$ns/$name" --http 80 --tcp 22,443,5432,8080 --udp 53
  elif [ "$wnode" != attacker ]; then
    ip route replace "10.77.$i.0/24" via "${VM_NODE_IP[$wnode]}"
  fi
done

# cluster mode (common.sh wrote $lab/cluster: etcd's URL): node1 runs
# etcd on the underlay (mutual TLS), every node's agent waits for it before it starts
cluster=""
[ -f "$lab/cluster" ] && cluster=$(cat "$lab/cluster")
if [ -n "$cluster" ]; then
  etcd_ip=${cluster#etcd://}
  etcd_ip=${etcd_ip%:*}
  mapfile -t tls < <(vm_etcd_curl "$VM_TLS_DIR") # (common.sh installed this node's certificate)
  if [ "$node" = "$VM_ETCD_NODE" ] && ! systemctl is-active -q zs-etcd; then
    # Debian's etcd-server from the box (its own unit is masked there: it
    # listens on localhost only), behind mutual TLS (topology.sh: the
    # attacker VM shares the underlay)
    mapfile -t args < <(vm_etcd_args "$etcd_ip" "$VM_TLS_DIR")
    systemd-run --unit zs-etcd --property=Restart=on-failure /usr/bin/etcd --name "$node" \
      --data-dir /var/lib/zs-etcd --log-level warn --logger zap "${args[@]}" \
      --initial-cluster "$node=http://127.0.0.1:2380"
  fi
  # (node2 is provisioned beside node1: it waits for node1's etcd)
  for _ in $(seq 600); do curl -sf -m 2 "${tls[@]}" "https://$etcd_ip:2379/health" >/dev/null && break; sleep 1; done
  curl -sf -m 5 "${tls[@]}" "https://$etcd_ip:2379/health" >/dev/null ||
    { echo "node.sh: etcd at $etcd_ip:2379 does not answer (https, this node's certificate)" >&2; exit 1; }
fi

# apply_once_leased FILE: an apply of workloads waits for the node's lease
# (the agent answers before its first grant, which the TLS handshakes
# under TCG make take seconds); any other refusal fails at once
apply_once_leased() {
  local out
  for _ in $(seq 120); do
    out=$(zeroseg apply -f "$1" 2>&1) && { echo "$out"; return 0; }
    grep -q "holds no lease in etcd yet" <<<"$out" || break
    sleep 1
  done
  echo "$out" >&2
  return 1
}

systemctl enable --now zeroseg
# the agent loads and verifies its programs first: slow under TCG
for _ in $(seq 300); do zeroseg workload list >/dev/null 2>&1 && break; sleep 0.5; done
if ! zeroseg workload list >/dev/null 2>&1; then
  echo "node.sh: the agent does not answer; its journal:" >&2
  journalctl -u zeroseg --no-pager -o cat | grep -v '^;' | tail -20 >&2
  exit 1
fi
if [ -n "$cluster" ]; then
  # this node's workloads (and the Namespaces, the same text from each
  # node); node1 also the attacker's and the policy: applied once, for all
  vm_objects_yaml "$node" cluster >/etc/zeroseg/lab.yaml
  apply_once_leased /etc/zeroseg/lab.yaml
  [ "$node" != node1 ] || apply_once_leased "$lab/three-tier.yaml"
  zeroseg cluster status || true # (what it shows; the checks judge it)
else
  vm_objects_yaml "$node" >/etc/zeroseg/lab.yaml
  zeroseg apply -f /etc/zeroseg/lab.yaml
  zeroseg apply -f "$lab/three-tier.yaml"
fi
zeroseg workload list
