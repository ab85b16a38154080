# Namespace topologies for the demo and the end-to-end tests, until
# scripts/lab.sh brings the full lab. A node namespace (TAG-n, forwarding)
# holds the host ends of the workloads' veths, as a host does for its
# containers; zeroseg runs there.
#
#   workload ns TAG-NAME (eth TAG-NAME, 10.77.I.2, fd77:I::2)
#     --veth-- node ns TAG-n (TAG-NAMEh, 10.77.I.1, fd77:I::1)
# shellcheck shell=bash

# shellcheck disable=SC2034  # the addresses, for the scripts that source this
TOPO_WEB_IP=10.77.1.2 TOPO_CLI_IP=10.77.2.2
# shellcheck disable=SC2034
TOPO_WEB_IP6=fd77:1::2 TOPO_CLI_IP6=fd77:2::2

# topo_node TAG: the node namespace (TAG: at most 9 characters, zs-...)
topo_node() {
  ip netns add "$1-n" && ip -n "$1-n" link set lo up || return 1
  ip netns exec "$1-n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# topo_workload TAG NAME INDEX [--no-link]: a workload namespace behind the
# node; with --no-link only the namespace (the link comes later: topo_link)
topo_workload() {
  local tag=$1 name=$2 i=$3
  ip netns add "$tag-$name" && ip -n "$tag-$name" link set lo up || return 1
  [ "${4:-}" = --no-link ] || topo_link "$tag" "$name" "$i"
}

topo_link() {
  local tag=$1 name=$2 i=$3 ns="$1-$2"
  ip link add "$tag-${name}h" netns "$tag-n" type veth peer name "$tag-$name" netns "$ns" || return 1
  ip -n "$tag-n" addr add "10.77.$i.1/24" dev "$tag-${name}h"
  ip -n "$tag-n" addr add "fd77:$i::1/64" dev "$tag-${name}h" nodad
  ip -n "$ns" addr add "10.77.$i.2/24" dev "$tag-$name"
  ip -n "$ns" addr add "fd77:$i::2/64" dev "$tag-$name" nodad
  ip -n "$tag-n" link set "$tag-${name}h" up
  ip -n "$ns" link set "$tag-$name" up
  ip -n "$ns" route add default via "10.77.$i.1"
  ip -n "$ns" -6 route add default via "fd77:$i::1"
}

# topo_warm TAG SRC DST_INDEX: resolve neighbours once, so probes do not race them
topo_warm() {
  ip netns exec "$1-$2" ping -c1 -W3 "10.77.$3.2" >/dev/null 2>&1 || true
  ip netns exec "$1-$2" ping -6 -c1 -W3 "fd77:$3::2" >/dev/null 2>&1 || true
}

# topo_up TAG: client (TAG-c, index 2) and web (TAG-w, index 1)
topo_up() {
  topo_node "$1" && topo_workload "$1" w 1 && topo_workload "$1" c 2 || return 1
  topo_warm "$1" c 1
}

# topo_workloads_yaml TAG: topo_up's web and client as Workload objects,
# for a test to apply with its own policies after them
topo_workloads_yaml() {
  cat <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, labels: {app: web}}
spec: {interface: $1-wh, ips: [$TOPO_WEB_IP]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: client, labels: {app: client}}
spec: {interface: $1-ch, ips: [$TOPO_CLI_IP]}
YAML
}

# topo_web_81_up TAG FILE: topo_up, TCP echo on web's 80 and 81, and in FILE
# the Workloads and a policy that lets client reach web on 81 only (what the
# service tests store, then check enforced: 80 denied, 81 allowed)
topo_web_81_up() {
  topo_up "$1" || return 1
  for port in 80 81; do ip netns exec "$1-w" ncat -lk "$port" --exec /bin/cat >/dev/null 2>&1 & done
  sleep 0.5
  { topo_workloads_yaml "$1"; cat <<YAML
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  ingress: [{from: [{selector: {matchLabels: {app: client}}}], ports: [{port: 81}]}]
YAML
  } >"$2"
}

# topo_down TAG ZEROSEG PIN_DIR: detach, unpin, stop processes, delete
# every namespace whose name starts with TAG-
topo_down() {
  local tag=$1 zs=$2 pin=$3 ns
  if [ -e "/run/netns/$tag-n" ] && [ -x "$zs" ]; then
    nsenter --net="/run/netns/$tag-n" "$zs" bpf uninstall --bpf-pin-dir "$pin" >/dev/null 2>&1
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep "^$tag-"); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$pin"
  return 0
}
