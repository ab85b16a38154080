#!/usr/bin/env bash
# TCP through a forwarding node, interleaved rounds of three systems on the
# same path: no filter, zeroseg enforcing (tc on the web workload's veth,
# rules allowing the client), nftables (forward chain, policy drop, conntrack:
# established accepted, new accepted from the client to the same ports).
#   client ns --veth-- node ns (forwarding; the filter) --veth-- web ns
# Per round and system: iperf3 single stream and 4 streams, a 1-byte TCP
# request/response loop (its median round trip), a connect/close loop
# (connections/s). There is no agent: ring_drain (built beside TCP_LOAD)
# reads zeroseg's event ring as the agent would, or the ring would fill
# and the new flows after that would skip the event's cost.
# Writes JSON lines {"bench":"tcp","test":..,"system":..,"unit":..,"runs":[..]}.
#
# Usage: tcp_paths.sh ZEROSEG TCP_LOAD OUT.jsonl [--quick]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../scripts/lib/topology.sh
source "$here/../scripts/lib/topology.sh"

ZS=$(realpath "$1") LOAD=$(realpath "$2") OUT=$3
quick=0; [ "${4:-}" = --quick ] && quick=1
if [ $quick = 1 ]; then rounds=1 secs=1 short=0.5; else rounds=${ZS_BENCH_TCP_ROUNDS:-3} secs=4 short=3; fi

tag=${ZS_BENCH_TAG:-zs-b$(($$ % 100000))}t
NODE=$tag-n WEB=$tag-w CLI=$tag-c
PIN=/sys/fs/bpf/$tag
WEB_IP=$TOPO_WEB_IP CLI_IP=$TOPO_CLI_IP
WEB_ID=1000 CLI_ID=2000
IPERF_PORT=5201 RR_PORT=7000 CONN_PORT=7001  # tcp_load serves RR_PORT and RR_PORT+1

DRAIN=$(dirname "$LOAD")/ring_drain
[ -x "$DRAIN" ] || { echo "tcp_paths: $DRAIN missing: build the ring_drain target" >&2; exit 1; }
drain_pid=
cleanup() {
  [ -z "$drain_pid" ] || { kill "$drain_pid" 2>/dev/null; wait "$drain_pid" 2>/dev/null; } || true
  topo_down "$tag" "$ZS" "$PIN"; rm -rf "${work:-}"
}
trap cleanup EXIT
work=$(mktemp -d)

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --bpf-pin-dir "$PIN"; }
in_cli() { ip netns exec "$CLI" "$@"; }

topo_up "$tag"
# the connect loop: every port the client has, no TIME_WAIT left on its side
in_cli sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
ip netns exec "$WEB" iperf3 -s -p $IPERF_PORT >/dev/null 2>&1 &
ip netns exec "$WEB" "$LOAD" serve $RR_PORT >/dev/null 2>&1 &
zs bpf load >/dev/null
"$DRAIN" "$PIN/zs_events" >"$work/drain.json" &
drain_pid=$!
zs bpf ipcache set "$CLI_IP/32" $CLI_ID
rule=1
for port in $IPERF_PORT $RR_PORT $CONN_PORT; do
  zs bpf policy set --subject $WEB_ID --peer $CLI_ID --direction ingress --proto tcp --port $port --allow --rule $rule
  rule=$((rule + 1))
done
sleep 0.5

on() {
  case $1 in
    none) ;;
    zeroseg) zs bpf attach "$tag-wh" --identity $WEB_ID --hook tc --ingress enforce --egress enforce \
               --ip "$WEB_IP" >/dev/null ;;
    nftables) in_node nft -f - <<EOF
table inet $tag {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ip saddr $CLI_IP ip daddr $WEB_IP tcp dport { $IPERF_PORT, $RR_PORT, $CONN_PORT } ct state new accept
  }
}
EOF
    ;;
  esac
}
off() {
  case $1 in
    none) ;;
    zeroseg) zs bpf detach "$tag-wh" >/dev/null ;;
    nftables) in_node nft delete table inet "$tag" ;;
  esac
}

json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

declare -A runs
add() { runs[$1]="${runs[$1]:+${runs[$1]},}$2"; }

systems=(none zeroseg nftables)
for round in $(seq 1 "$rounds"); do
  echo "tcp round $round/$rounds" >&2
  # rotate the order so no system always runs first
  n=${#systems[@]}
  for k in $(seq 0 $((n - 1))); do
    s=${systems[$(((k + round - 1) % n))]}
    on "$s"
    for streams in 1 4; do
      v=$(in_cli iperf3 -c "$WEB_IP" -p $IPERF_PORT -t "$secs" -P $streams -J |
          json_field 'd["end"]["sum_received"]["bits_per_second"] / 1e9')
      add "iperf3_p$streams/$s" "$v"
    done
    v=$(in_cli "$LOAD" rr "$WEB_IP" $RR_PORT "$short" | json_field 'd["p50_us"]')
    add "rr/$s" "$v"
    r=$(in_cli "$LOAD" connect "$WEB_IP" $CONN_PORT "$short")
    add "connect/$s" "$(json_field 'd["per_sec"]' <<<"$r")"
    [ "$(json_field 'd["failed"]' <<<"$r")" = 0 ] || echo "tcp: $s: connect loop: $r" >&2
    off "$s"
  done
done

kill "$drain_pid" 2>/dev/null || true
wait "$drain_pid" || true
drain_pid=
echo "tcp: zeroseg's events read from the ring: $(cat "$work/drain.json")" >&2

: >"$OUT"
for s in "${systems[@]}"; do
  for t in iperf3_p1 iperf3_p4; do
    echo "{\"bench\":\"tcp\",\"test\":\"$t\",\"system\":\"$s\",\"unit\":\"Gbit/s\",\"runs\":[${runs[$t/$s]}]}" >>"$OUT"
  done
  echo "{\"bench\":\"tcp\",\"test\":\"rr\",\"system\":\"$s\",\"unit\":\"us\",\"runs\":[${runs[rr/$s]}]}" >>"$OUT"
  echo "{\"bench\":\"tcp\",\"test\":\"connect\",\"system\":\"$s\",\"unit\":\"conn/s\",\"runs\":[${runs[connect/$s]}]}" >>"$OUT"
done
