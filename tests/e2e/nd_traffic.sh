#!/usr/bin/env bash
# IPv6 neighbour discovery through a workload veth under deny-all, with
# real packets: ND messages with data that the workload crafts (raw
# sockets, hop limit 255) for an address on another link must not arrive
# there; ND on the link still resolves neighbours, by link-local and by
# global address, both ways.
#
#   client ns --veth-- node ns (forwarding, zeroseg) --veth-- web ns
#
# Usage: nd_traffic.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"

ZS=$(realpath "$1")
tag=zs-d$(($$ % 100000))
NODE=$tag-n WEB=$tag-w CLI=$tag-c
PIN=/sys/fs/bpf/$tag
WEB_IP=$TOPO_WEB_IP WEB_IP6=$TOPO_WEB_IP6 CLI_IP6=$TOPO_CLI_IP6 GW_IP6=fd77:1::1
WEB_ID=1000 CLI_ID=2000
probe=$here/nd_probe.py

cleanup() {
  [ -n "${recv_pid:-}" ] && kill "$recv_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "${out_dir:-}"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --bpf-pin-dir "$PIN"; }

topo_up "$tag" || { echo "FAIL: building the topology"; exit 1; }
out_dir=$(mktemp -d)

# arrivals MARKER TYPE SRC DST [--hops N]: how many of one ND message of
# TYPE, with MARKER as data, sent by web from SRC to DST, reach the client
arrivals() {
  local marker=$1 type=$2 src=$3 dst=$4
  shift 4
  rm -f "$out_dir/ready"
  ip netns exec "$CLI" python3 "$probe" recv "$marker" 1.5 >"$out_dir/count" 2>"$out_dir/ready" &
  recv_pid=$!
  for _ in $(seq 100); do grep -q ready "$out_dir/ready" 2>/dev/null && break; sleep 0.02; done
  ip netns exec "$WEB" python3 "$probe" send "$type" "$src" "$dst" "$marker" "$@"
  wait "$recv_pid"
  recv_pid=
  cat "$out_dir/count"
}

# resolved NS DEV ADDR: NS's neighbour entry for ADDR on DEV has a link-layer address
resolved() {
  local entry
  entry=$(ip -n "$1" -6 neigh show to "$3" dev "$2")
  [[ $entry == *lladdr* && $entry != *FAILED* && $entry != *INCOMPLETE* ]]
}

# resolve_from NS DEV ADDR: flush NS's neighbours on DEV, send one ping to
# ADDR out of DEV (policy may drop it: only the resolution matters), look
resolve_from() {
  ip -n "$1" -6 neigh flush dev "$2"
  ip netns exec "$1" ping -6 -c1 -W1 -I "$2" "$3" >/dev/null 2>&1
  resolved "$1" "$2" "$3"
}

link_local_of() { ip -n "$1" -6 addr show dev "$2" scope link | awk '/inet6/ {sub("/.*", "", $2); print $2}'; }

n=$(arrivals nd-free-135 135 "$WEB_IP6" "$CLI_IP6")
if [ "$n" -ge 1 ]; then pass "no datapath: web's crafted NS with data reaches the client on another link"; else fail "the probe saw nothing even without a datapath ($n)"; fi

zs bpf load >/dev/null || { echo "FAIL: loading the datapath"; exit 1; }
for hook in tc xdp; do
  echo "== web under deny-all, ingress by $hook"
  zs bpf attach "$tag-wh" --identity $WEB_ID --hook "$hook" --ingress enforce --egress enforce \
    --ip "$WEB_IP" --ip "$WEB_IP6" >/dev/null
  for type in 135 136 134 137; do
    n=$(arrivals "nd-$hook-$type" "$type" "$WEB_IP6" "$CLI_IP6")
    if [ "$n" = 0 ]; then pass "ND type $type with data from web to another link does not arrive"; else fail "ND type $type with data from web reached the client ($n)"; fi
  done
  n=$(arrivals "nd-$hook-ll" 135 "$(link_local_of "$WEB" "$tag-w")" "$CLI_IP6" --dev "$tag-w")
  if [ "$n" = 0 ]; then pass "NS from web's link-local address to another link does not arrive (not forwarded)"; else fail "a link-local-sourced NS was forwarded ($n)"; fi

  node_ll=$(link_local_of "$NODE" "$tag-wh")
  web_ll=$(link_local_of "$WEB" "$tag-w")
  expect_ok "web resolves the node's link-local address ($node_ll)" resolve_from "$WEB" "$tag-w" "$node_ll"
  expect_ok "web resolves its gateway's global address (NA global to global, arriving)" resolve_from "$WEB" "$tag-w" "$GW_IP6"
  expect_ok "the node resolves web's link-local address" resolve_from "$NODE" "$tag-wh" "$web_ll"

  zs bpf ipcache set "$CLI_IP6/128" $CLI_ID
  zs bpf policy set --subject $WEB_ID --peer $CLI_ID --direction ingress --proto icmpv6 --icmp-type 128 --allow --rule 1
  ip -n "$NODE" -6 neigh flush dev "$tag-wh"
  ip -n "$WEB" -6 neigh flush dev "$tag-w"
  expect_ok "allowed ping6 from the client, with web and the node resolving each other afresh" \
    ip netns exec "$CLI" ping -6 -c1 -W2 "$WEB_IP6"
  zs bpf policy delete --subject $WEB_ID --peer $CLI_ID --direction ingress --proto icmpv6 --icmp-type 128
  zs bpf detach "$tag-wh" >/dev/null
done

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
