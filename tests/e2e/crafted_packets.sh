#!/usr/bin/env bash
# Crafted packets from an attacker workload, through real veths: TCP
# without SYN, ICMP/ICMPv6 errors quoting a live flow sent to a third
# workload, IPv4 and IPv6 fragments (alone, overlapping to rewrite the
# port), IPv6 extension header chains hiding the L4 header (also past the
# walk limit), tunnels (IPIP, GRE, 6in4, 4in6, 6in6). Each case arrives
# when nothing is attached and when the modes are off; under a policy that
# lets the attacker reach web on TCP/80 only (and db not at all) it does not
# arrive, enforced on the attacker's egress (tc, then XDP) and on the
# targets' ingress. The receiver counts frames with a packet socket in the
# target's namespace.
#
#   atk ns (10.77.1.2) --veth-- node ns (forwarding, zeroseg) --veth-- web (10.77.2.2)
#                                                             --veth-- db  (10.77.3.2)
#
# Usage: crafted_packets.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"

ZS=$(realpath "$1")
tag=zs-k$(($$ % 100000))
NODE=$tag-n ATK=$tag-atk WEB=$tag-web DB=$tag-db
PIN=/sys/fs/bpf/$tag
ATK_ID=3000 WEB_ID=1000 DB_ID=2000
tool=$here/crafted_packets.py
out_dir=$(mktemp -d)
recv_pid="" flow_pid="" flow6_pid="" rev_pid=""

cleanup() {
  [ -n "$recv_pid" ] && kill "$recv_pid" 2>/dev/null
  [ -n "$flow_pid" ] && kill "$flow_pid" 2>/dev/null
  [ -n "$flow6_pid" ] && kill "$flow6_pid" 2>/dev/null
  [ -n "$rev_pid" ] && kill "$rev_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "$out_dir"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --bpf-pin-dir "$PIN"; }
run() { "$@" >/dev/null || { fail "command failed: $*"; exit 1; }; }

topo_node "$tag" || exit 1
topo_workload "$tag" atk 1 && topo_workload "$tag" web 2 && topo_workload "$tag" db 3 || exit 1
for i in 2 3; do topo_warm "$tag" atk $i; done
gw=$(ip -n "$NODE" -o link show "$tag-atkh" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
[ -n "$gw" ] || { echo "no MAC on $tag-atkh"; exit 1; }

# a live flow atk -> web:80 for the ICMP errors to quote (held open)
ip netns exec "$WEB" ncat -4 -lk 80 --exec /bin/cat >/dev/null 2>&1 &
ip netns exec "$WEB" ncat -6 -lk 80 --exec /bin/cat >/dev/null 2>&1 &
ip netns exec "$ATK" ncat -4 -lk 8080 --exec /bin/cat >/dev/null 2>&1 &
# listening(NS PORT FAMILY): the listener is up (on a loaded machine, ncat
# takes its time)
listening() { ip netns exec "$1" ss -Hltn "$3" "sport = :$2" | grep -q .; }
for _ in $(seq 200); do
  listening "$WEB" 80 -4 && listening "$WEB" 80 -6 && listening "$ATK" 8080 -4 && break
  sleep 0.05
done
hold_flow() {  # FAMILY|rev: holds a connection atk -> web:80 (rev: web -> atk:8080), prints its source port
  local dst=10.77.2.2 ns=$ATK port=80
  [ "$1" = 6 ] && dst=fd77:2::2
  [ "$1" = rev ] && dst=10.77.1.2 ns=$WEB port=8080
  ip netns exec "$ns" python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(s.getsockname()[1], flush=True)
time.sleep(3600)' "$dst" "$port" >"$out_dir/flow$1" 2>&1 &
  echo $!
}

# arrivals CASE RECV_NS RECV_DEV DST4 DST6: frames of CASE that reach RECV_DEV
arrivals() {
  local c=$1 ns=$2 dev=$3 marker="zs-$RANDOM-$RANDOM-$1"
  rm -f "$out_dir/ready" "$out_dir/stop"
  ip netns exec "$ns" python3 "$tool" recv "$dev" "$marker" "$out_dir/stop" 60 >"$out_dir/count" 2>"$out_dir/ready" &
  recv_pid=$!
  for _ in $(seq 500); do grep -q ready "$out_dir/ready" 2>/dev/null && break; sleep 0.02; done
  ip netns exec "$ATK" python3 "$tool" send "$tag-atk" "$c" "$marker" gw="$gw" \
    src4=10.77.1.2 src6=fd77:1::2 dst4="$4" dst6="$5" \
    flow_src4=10.77.1.2 flow_dst4=10.77.2.2 flow_src6=fd77:1::2 flow_dst6=fd77:2::2 \
    flow_sport="$flow_sport" flow_sport6="$flow_sport6" flow_dport=80 rev_sport=8080 rev_dport="$rev_port" || echo "send failed" >&2
  # frames cross two veths in microseconds; the receiver then takes what
  # its socket holds, however late it is scheduled
  sleep 0.3
  touch "$out_dir/stop"
  wait "$recv_pid"
  recv_pid=
  cat "$out_dir/count"
}

# the outcome a case must have under the policy (atk may reach web on
# TCP/80, nothing else; web may reach atk on TCP/8080): FRAMES of it that
# may arrive
expected_enforced() {
  case $1 in
    allowed-syn4|allowed-syn6) echo 1 ;;        # the controls: allowed, they arrive
    synack-as-reply4) echo 1 ;;                 # the reply to web's flow to atk:8080
    frag4-allowed-pair) echo 2 ;;               # a first fragment to web:80 and its later one
    frag4-overlap-rewrite|frag6-overlap-rewrite) echo 1 ;;  # only the first, to port 80
    *) echo 0 ;;
  esac
}

# pass NAME ENFORCED: every case; ENFORCED=0: each arrives whole
pass_all() {
  local name=$1 enforced=$2 entry c frames want got ns dev d4 d6
  echo "== $name"
  for entry in $(python3 "$tool" list); do
    c=${entry%%:*} frames=${entry##*:}
    ns=$WEB dev=$tag-web d4=10.77.2.2 d6=fd77:2::2
    # the errors go to the third workload
    [[ $c == icmp* ]] && ns=$DB dev=$tag-db d4=10.77.3.2 d6=fd77:3::2
    want=$frames; [ "$enforced" = 1 ] && want=$(expected_enforced "$c")
    got=$(arrivals "$c" "$ns" "$dev" "$d4" "$d6")
    if [ "$got" = "$want" ]; then pass "$name: $c: $got of $frames frames arrive"
    else fail "$name: $c: $got of $frames frames arrived, wanted $want"; fi
  done
}

# new_flows WHAT: (re)opens the live flows, IPv4 and IPv6, so that they are
# tracked where the datapath now judges them
new_flows() {
  local f
  for f in flow_pid flow6_pid rev_pid; do [ -n "${!f}" ] && kill "${!f}" 2>/dev/null; done
  rm -f "$out_dir/flow4" "$out_dir/flow6" "$out_dir/flowrev"
  flow_pid=$(hold_flow 4)
  flow6_pid=$(hold_flow 6)
  rev_pid=$(hold_flow rev)
  for _ in $(seq 50); do [ -s "$out_dir/flow4" ] && [ -s "$out_dir/flow6" ] && [ -s "$out_dir/flowrev" ] && break; sleep 0.1; done
  flow_sport=$(cat "$out_dir/flow4") flow_sport6=$(cat "$out_dir/flow6") rev_port=$(cat "$out_dir/flowrev")
  if [[ $flow_sport =~ ^[0-9]+$ && $flow_sport6 =~ ^[0-9]+$ && $rev_port =~ ^[0-9]+$ ]]; then
    pass "$1: the allowed flows atk -> web:80 and web -> atk:8080 are open (ports $flow_sport, $flow_sport6, $rev_port)"
  else
    fail "$1: the allowed flows did not open ($flow_sport, $flow_sport6, $rev_port)"; exit 1
  fi
}

new_flows "nothing attached"
pass_all "nothing attached" 0

run zs bpf load
run zs bpf ipcache set 10.77.2.2/32 $WEB_ID
run zs bpf ipcache set fd77:2::2/128 $WEB_ID
run zs bpf ipcache set 10.77.3.2/32 $DB_ID
run zs bpf ipcache set fd77:3::2/128 $DB_ID
run zs bpf ipcache set 10.77.1.2/32 $ATK_ID
run zs bpf ipcache set fd77:1::2/128 $ATK_ID
run zs bpf policy set --subject $ATK_ID --peer $WEB_ID --direction egress --proto tcp --port 80 --allow --rule 1
run zs bpf policy set --subject $WEB_ID --peer $ATK_ID --direction ingress --proto tcp --port 80 --allow --rule 2
# and web may reach atk on TCP/8080
run zs bpf policy set --subject $WEB_ID --peer $ATK_ID --direction egress --proto tcp --port 8080 --allow --rule 3
run zs bpf policy set --subject $ATK_ID --peer $WEB_ID --direction ingress --proto tcp --port 8080 --allow --rule 4

run zs bpf attach "$tag-atkh" --identity $ATK_ID --ip 10.77.1.2 --ip fd77:1::2 --ingress off --egress off
run zs bpf attach "$tag-webh" --identity $WEB_ID --ip 10.77.2.2 --ip fd77:2::2 --ingress off --egress off
run zs bpf attach "$tag-dbh" --identity $DB_ID --ip 10.77.3.2 --ip fd77:3::2 --ingress off --egress off
pass_all "modes off" 0
run zs bpf detach "$tag-webh"
run zs bpf detach "$tag-dbh"
run zs bpf detach "$tag-atkh"

for hook in tc xdp; do
  run zs bpf attach "$tag-atkh" --identity $ATK_ID --ip 10.77.1.2 --ip fd77:1::2 --hook $hook --ingress enforce --egress enforce
  new_flows "atk egress by $hook"
  pass_all "atk's egress enforced by $hook" 1
  run zs bpf detach "$tag-atkh"
done

run zs bpf attach "$tag-webh" --identity $WEB_ID --ip 10.77.2.2 --ip fd77:2::2 --ingress enforce --egress enforce
run zs bpf attach "$tag-dbh" --identity $DB_ID --ip 10.77.3.2 --ip fd77:3::2 --ingress enforce --egress enforce
new_flows "web and db ingress"
pass_all "web's and db's ingress enforced" 1

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
[ "$E2E_CHECKS" -gt 0 ] || { echo "no checks ran"; exit 1; }
e2e_summary
