#!/usr/bin/env bash
# Real packets through veth pairs in network namespaces, the datapath
# attached to the host end of a workload's veth (tc by default, then XDP):
# default deny, ping and TCP allowed by policy, and an established TCP
# connection cut the moment its rule is removed.
#
#   client ns --veth-- node ns (forwarding, zeroseg) --veth-- web ns
#
# Usage: real_traffic.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"

ZS=$(realpath "$1")
tag=zs-r$(($$ % 100000))
NODE=$tag-n WEB=$tag-w CLI=$tag-c
PIN=/sys/fs/bpf/$tag
WEB_IP=$TOPO_WEB_IP CLI_IP=$TOPO_CLI_IP WEB_IP6=$TOPO_WEB_IP6 CLI_IP6=$TOPO_CLI_IP6
WEB_ID=1000 CLI_ID=2000

cleanup() {
  [ -n "${conn_pid:-}" ] && kill "$conn_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "${fifo_dir:-}"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --bpf-pin-dir "$PIN"; }

topo_up "$tag" || { echo "FAIL: building the topology"; exit 1; }

# a TCP echo service in web
ip netns exec "$WEB" ncat -lk 8080 --exec /bin/cat >/dev/null 2>&1 &
sleep 0.3

expect_ok "no policy yet: client reaches web" ip netns exec "$CLI" ping -c1 -W2 $WEB_IP

ping4() { ip netns exec "$CLI" ping -c1 -W1 $WEB_IP; }
ping6() { ip netns exec "$CLI" ping -6 -c1 -W1 $WEB_IP6; }
# an ICMP timestamp request (type 13); hping3 exits 1 when no reply (14) came
timestamp4() { ip netns exec "$CLI" hping3 -1 --icmp-ts -c 1 $WEB_IP >/dev/null 2>&1; }
expect_ok "no policy yet: web answers an ICMP timestamp request" timestamp4
connect() { ip netns exec "$CLI" ncat -z -w 2 "$1" 8080; }

# A long-lived connection: a line goes out every time we ask, and must come back.
fifo_dir=$(mktemp -d)
open_connection() {
  mkfifo "$fifo_dir/in" "$fifo_dir/out"
  ip netns exec "$CLI" ncat $WEB_IP 8080 <"$fifo_dir/in" >"$fifo_dir/out" &
  conn_pid=$!
  exec 7>"$fifo_dir/in" 8<"$fifo_dir/out"
}
echo_line() { echo "$1" >&7 && IFS= read -r -t 2 reply <&8 && [ "$reply" = "$1" ]; }
close_connection() { exec 7>&- 8<&-; kill "$conn_pid" 2>/dev/null; wait "$conn_pid" 2>/dev/null; conn_pid=; rm -f "$fifo_dir/in" "$fifo_dir/out"; }

run_suite() {
  local hook=$1
  echo "== workload veth, ingress by $hook"
  zs bpf attach "$tag-wh" --identity $WEB_ID --hook "$hook" --ingress enforce --egress enforce \
    --ip "$WEB_IP" --ip "$WEB_IP6" >/dev/null
  local hooks; hooks=$(zs status --datapath-only -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoints"][0]["hooks"])')
  if [ "$hooks" = "$hook/tc" ]; then pass "status shows the $hook/tc hooks"; else fail "status shows hooks $hooks, wanted $hook/tc"; fi

  expect_fail "default deny: ping (IPv4) is dropped" ping4
  expect_fail "default deny: TCP connect is dropped" connect $WEB_IP

  zs bpf ipcache set $CLI_IP/32 $CLI_ID
  zs bpf ipcache set $CLI_IP6/128 $CLI_ID
  zs bpf policy set --subject $WEB_ID --peer $CLI_ID --direction ingress --proto icmp --icmp-type 8 --allow --rule 1
  zs bpf policy set --subject $WEB_ID --peer $CLI_ID --direction ingress --proto icmpv6 --icmp-type 128 --allow --rule 2
  zs bpf policy set --subject $WEB_ID --peer $CLI_ID --direction ingress --proto tcp --port 8080 --allow --rule 3

  expect_ok "allowed: ping (IPv4)" ping4
  expect_ok "allowed: ping (IPv6), neighbour discovery passes" ping6
  # ICMP flows are keyed by id and request type: a rule for echo admits no other type
  expect_fail "a rule for echo admits no timestamp request" timestamp4
  zs bpf policy set --subject $WEB_ID --peer $CLI_ID --direction ingress --proto icmp --icmp-type 13 --allow --rule 4
  expect_ok "allowed: timestamp request, its reply answers it through web's enforced egress" timestamp4
  local ct; ct=$(zs bpf dump conntrack)
  if [[ $ct == *"type 13 code 0"* ]]; then pass "bpf dump conntrack shows the timestamp flow's type"; else fail "dump conntrack: $ct"; fi
  zs bpf policy delete --subject $WEB_ID --peer $CLI_ID --direction ingress --proto icmp --icmp-type 13
  expect_ok "allowed: TCP connect to 8080 (IPv4)" connect $WEB_IP
  expect_ok "allowed: TCP connect to 8080 (IPv6)" connect $WEB_IP6
  expect_fail "web's own egress stays denied (no egress rule)" ip netns exec "$WEB" ping -c1 -W1 $CLI_IP

  open_connection
  expect_ok "established connection carries data" echo_line "hello-$hook"
  # an upgrade or restart: new programs over the pinned maps, re-attached in place
  zs bpf load >/dev/null && zs bpf attach "$tag-wh" --identity $WEB_ID --hook "$hook" --ip "$WEB_IP" --ip "$WEB_IP6" >/dev/null
  expect_ok "reloaded and re-attached: the established connection survives" echo_line "still-$hook"
  expect_fail "reloaded and re-attached: denied traffic stays denied" ip netns exec "$WEB" ping -c1 -W1 $CLI_IP
  zs bpf policy delete --subject $WEB_ID --peer $CLI_ID --direction ingress --proto tcp --port 8080
  expect_fail "rule removed: the established connection is cut at once" echo_line "again-$hook"
  close_connection
  expect_fail "rule removed: new TCP connections are dropped" connect $WEB_IP
  expect_ok "the ping rule still holds" ping4

  local revoked; revoked=$(zs status --datapath-only -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["flows-revoked"])')
  if [ "${revoked:-0}" -ge 1 ]; then pass "status counts the revoked flow ($revoked)"; else fail "flows-revoked is ${revoked:-none}"; fi

  zs bpf detach "$tag-wh" >/dev/null
  zs bpf policy delete --subject $WEB_ID --peer $CLI_ID --direction ingress --proto icmp --icmp-type 8
  zs bpf policy delete --subject $WEB_ID --peer $CLI_ID --direction ingress --proto icmpv6 --icmp-type 128
  expect_ok "detached: traffic flows freely again" connect $WEB_IP
}

zs bpf load >/dev/null || { echo "FAIL: loading the datapath"; exit 1; }

# one writer per pin directory: a second one is refused, saying why
flock "$PIN" sleep 3 &
locker=$!
sleep 0.3
msg=$(zs bpf ipcache set 10.1.1.1 5000 2>&1)
if [[ $msg == *"already manages $PIN"* ]]; then pass "a second writer on the pin dir is refused"; else fail "second writer: $msg"; fi
wait "$locker"
run_suite tc
run_suite xdp

echo "== host uplink without native XDP (a bridge), and errors"
ip -n "$NODE" link add "$tag-d" type bridge && ip -n "$NODE" link set "$tag-d" up
out=$(zs bpf attach "$tag-d" --identity 1 --kind host 2>&1)
if [[ $out == *"native XDP is not available on $tag-d"* && $out == *"ingress tc (XDP fallback)"* ]]; then
  pass "no native XDP on a bridge uplink: tc ingress, with a warning"
else
  fail "XDP fallback: $out"
fi
st=$(zs status --datapath-only)
if [[ $st == *"(no native XDP: tc fallback)"* ]]; then pass "status says the uplink fell back to tc"; else fail "status does not show the fallback"; fi
zs bpf detach "$tag-d" >/dev/null

out=$(zs bpf attach "$tag-nope" --identity 5 2>&1); rc=$?
if [ $rc = 1 ] && [[ $out == *"interface $tag-nope does not exist"* ]]; then pass "a missing interface is a clear error (exit 1)"; else fail "missing interface: rc=$rc $out"; fi
in_node "$ZS" bpf attach >/dev/null 2>&1; rc=$?
if [ $rc = 2 ]; then pass "a usage error exits 2"; else fail "usage error exited $rc"; fi
out=$(in_node "$ZS" bpf dump policy --bpf-pin-dir /tmp 2>&1); rc=$?
if [ $rc = 1 ] && [[ $out == *"no zeroseg datapath is pinned under /tmp"* ]]; then pass "an unpinned directory is a clear error"; else fail "unpinned dir: rc=$rc $out"; fi

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
