#!/usr/bin/env bash
# Headers outside the skb's linear part, with real packets. A tc program
# reads the packet by direct access, which sees only the linear part; zs_tc
# pulls what the parser needs (bpf/lib/tc_pull.h), and skips the pull when
# a TCP packet's headers are linear already (the usual GSO skb of a TCP
# stream: headers linear, payload in pages). This checks the other case:
# a client sends TCP SYNs (8000 bytes of data, MTU 9000 on the path) whose
# IP and TCP headers the kernel keeps in pages (a packet socket with
# PACKET_VNET_HDR, hdr_len 0: spoof_probe.py send-paged); the node
# forwards them (pulling the IP header only) to the web workload, whose
# veth zeroseg enforces (tc), the client allowed to port 7000 only.
# Checked, IPv4 and IPv6: such a SYN to 7000 arrives; to 7001 it does not
# (judged, not passed blind); the same SYN with linear headers, likewise.
# A tc_pull.h that skipped the pull for them would drop the allowed SYN as
# malformed-l4.
#
# Usage: paged_headers.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=../../scripts/lib/topology.sh
source "$root/scripts/lib/topology.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
tag=zs-g$(($$ % 10000))
PIN=/sys/fs/bpf/$tag
probe=$here/spoof_probe.py
work=$(mktemp -d)
recv_pid=
cleanup() {
  [ -n "$recv_pid" ] && kill "$recv_pid" 2>/dev/null
  topo_down "$tag" "$ZEROSEG" "$PIN"
  rm -rf "$work"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$tag-n" "$@"; }
zs() { in_node "$ZEROSEG" "$@" --bpf-pin-dir "$PIN"; }

topo_up "$tag" || { echo "FAIL: topology"; exit 1; }
for pair in "$tag-n $tag-ch" "$tag-n $tag-wh" "$tag-c $tag-c" "$tag-w $tag-w"; do
  read -r ns dev <<<"$pair"
  ip -n "$ns" link set "$dev" mtu 9000 || { echo "FAIL: mtu on $dev"; exit 1; }
done
GW_MAC=$(ip -n "$tag-n" -o link show "$tag-ch" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
[ -n "$GW_MAC" ] || { echo "FAIL: no MAC for $tag-ch"; exit 1; }

# arrivals VERB SRC DST DPORT: how many of one SYN sent by VERB (send or
# send-paged) from the client reach the web workload; "error" when the
# sending failed (never a vacuous 0)
sport=41000
arrivals() {
  local verb=$1 src=$2 dst=$3 dport=$4
  sport=$((sport + 1))
  rm -f "$work/ready"
  ip netns exec "$tag-w" python3 "$probe" recv "$tag-w" "$src" "$sport" "$dport" 1.5 \
    >"$work/count" 2>"$work/ready" &
  recv_pid=$!
  for _ in $(seq 100); do grep -q ready "$work/ready" 2>/dev/null && break; sleep 0.02; done
  if ! grep -q ready "$work/ready" 2>/dev/null; then wait "$recv_pid"; recv_pid=; echo error; return; fi
  local args=("$tag-c" "$GW_MAC")
  [ "$verb" = send ] && args+=(tcp)
  if ! ip netns exec "$tag-c" python3 "$probe" "$verb" "${args[@]}" "$src" "$dst" "$sport" "$dport"; then
    wait "$recv_pid"; recv_pid=; echo error; return
  fi
  wait "$recv_pid" || { recv_pid=; echo error; return; }
  recv_pid=
  cat "$work/count"
}
arrives() {  # WHAT N
  if [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ]; then pass "$1 arrives"; else fail "$1 does not arrive ($2)"; fi
}
stopped() {  # WHAT N
  if [ "$2" = 0 ]; then pass "$1 does not arrive"; else fail "$1 arrived ($2)"; fi
}

# the probe itself, before any filter: a paged SYN crosses the node
arrives "a paged SYN, no filter" "$(arrivals send-paged "$TOPO_CLI_IP" "$TOPO_WEB_IP" 7001)"

zs bpf load >/dev/null || { echo "FAIL: bpf load"; exit 1; }
zs bpf ipcache set "$TOPO_CLI_IP/32" 2000 >/dev/null
zs bpf ipcache set "$TOPO_CLI_IP6/128" 2000 >/dev/null
zs bpf policy set --subject 1000 --peer 2000 --direction ingress --proto tcp --port 7000 --allow --rule 1 \
  >/dev/null
zs bpf attach "$tag-wh" --identity 1000 --hook tc --ingress enforce --egress enforce \
  --ip "$TOPO_WEB_IP" --ip "$TOPO_WEB_IP6" >/dev/null || { echo "FAIL: attach"; exit 1; }

for fam in 4 6; do
  if [ $fam = 4 ]; then cli=$TOPO_CLI_IP web=$TOPO_WEB_IP; else cli=$TOPO_CLI_IP6 web=$TOPO_WEB_IP6; fi
  arrives "IPv$fam: a paged SYN to the allowed port" "$(arrivals send-paged "$cli" "$web" 7000)"
  stopped "IPv$fam: a paged SYN to a port not allowed" "$(arrivals send-paged "$cli" "$web" 7001)"
  arrives "IPv$fam: a linear SYN to the allowed port" "$(arrivals send "$cli" "$web" 7000)"
  stopped "IPv$fam: a linear SYN to a port not allowed" "$(arrivals send "$cli" "$web" 7001)"
done

trap - EXIT
cleanup
e2e_nothing_left "$tag" "$PIN"
e2e_summary
