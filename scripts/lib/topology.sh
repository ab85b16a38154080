# A three-namespace topology for the demo and the end-to-end tests, until
# scripts/lab.sh brings the full lab:
#
#   client ns (TAG-c) --veth-- node ns (TAG-n, forwarding) --veth-- web ns (TAG-w)
#
# The node holds the host ends of the veths (TAG-ch, TAG-wh): that is where
# zeroseg attaches, as a host does to its containers' veths.
# shellcheck shell=bash

TOPO_WEB_IP=10.77.1.2 TOPO_CLI_IP=10.77.2.2
TOPO_WEB_IP6=fd77:1::2 TOPO_CLI_IP6=fd77:2::2

# topo_up TAG: build it (TAG: at most 9 characters, starting zs-)
topo_up() {
  local tag=$1 ns
  for ns in "$tag-n" "$tag-w" "$tag-c"; do
    ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
  done
  ip link add "$tag-wh" netns "$tag-n" type veth peer name "$tag-w" netns "$tag-w" || return 1
  ip link add "$tag-ch" netns "$tag-n" type veth peer name "$tag-c" netns "$tag-c" || return 1
  ip -n "$tag-n" addr add 10.77.1.1/24 dev "$tag-wh"
  ip -n "$tag-n" addr add 10.77.2.1/24 dev "$tag-ch"
  ip -n "$tag-n" addr add fd77:1::1/64 dev "$tag-wh" nodad
  ip -n "$tag-n" addr add fd77:2::1/64 dev "$tag-ch" nodad
  ip -n "$tag-w" addr add $TOPO_WEB_IP/24 dev "$tag-w"
  ip -n "$tag-w" addr add $TOPO_WEB_IP6/64 dev "$tag-w" nodad
  ip -n "$tag-c" addr add $TOPO_CLI_IP/24 dev "$tag-c"
  ip -n "$tag-c" addr add $TOPO_CLI_IP6/64 dev "$tag-c" nodad
  ip -n "$tag-n" link set "$tag-wh" up
  ip -n "$tag-n" link set "$tag-ch" up
  ip -n "$tag-w" link set "$tag-w" up
  ip -n "$tag-c" link set "$tag-c" up
  ip -n "$tag-w" route add default via 10.77.1.1
  ip -n "$tag-w" -6 route add default via fd77:1::1
  ip -n "$tag-c" route add default via 10.77.2.1
  ip -n "$tag-c" -6 route add default via fd77:2::1
  ip netns exec "$tag-n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  # resolve neighbours once, so the first probes do not race them
  ip netns exec "$tag-c" ping -c1 -W3 $TOPO_WEB_IP >/dev/null 2>&1 || true
  ip netns exec "$tag-c" ping -6 -c1 -W3 $TOPO_WEB_IP6 >/dev/null 2>&1 || true
}

# topo_down TAG ZEROSEG PIN_DIR: detach, unpin, stop processes, delete
topo_down() {
  local tag=$1 zs=$2 pin=$3 ns
  if [ -e "/run/netns/$tag-n" ] && [ -x "$zs" ]; then
    nsenter --net="/run/netns/$tag-n" "$zs" bpf uninstall --bpf-pin-dir "$pin" >/dev/null 2>&1
  fi
  for ns in "$tag-n" "$tag-w" "$tag-c"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$pin"
  return 0
}
