#!/usr/bin/env bash
# Attachments are re-checked and repaired, and a failed attach is said:
# with a private agent and real traffic, someone deletes the clsact qdisc,
# switches off the uplink's XDP program, puts another program on our tc
# filter; each time the hook comes back (zeroseg_attach_repairs_total goes
# up) and a denied packet is dropped again. An interface whose attach fails
# (an `ingress` qdisc sits where clsact goes) shows in apply, status and
# metrics until it is enforced.
#
#   client ns --veth-- node ns (zeroseg) --veth-- web ns, x ns
#                           \--uplink (XDP)-- out ns
#
# Usage: attach_repair.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"
e2e_require_root

ZS=$(realpath "$1")
tag=zs-p$(($$ % 100000))
NODE=$tag-n WEB=$tag-w CLI=$tag-c OUT=$tag-out
work=$(mktemp -d)
SOCK=$work/zeroseg.sock PIN=/sys/fs/bpf/$tag STATE=$work/state
MPORT=9477  # in the node's own namespace: no other run shares it
agent_pid=

cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "$work"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --socket "$SOCK"; }
die() { echo "FAIL: $*"; exit 1; }

# --- topology: web 1, client 2, x 3, an uplink to "out" (10.78.0.0/24) ------
topo_node "$tag" || die "node namespace"
topo_workload "$tag" w 1 && topo_workload "$tag" c 2 && topo_workload "$tag" x 3 || die "workloads"
ip netns add "$OUT" || die "out namespace"
ip link add "$tag-up" netns "$NODE" type veth peer name "$tag-ext" netns "$OUT" || die "uplink"
ip -n "$NODE" addr add 10.78.0.1/24 dev "$tag-up"
ip -n "$OUT" addr add 10.78.0.2/24 dev "$tag-ext"
ip -n "$NODE" link set "$tag-up" up
ip -n "$OUT" link set "$tag-ext" up
ip netns exec "$WEB" ncat -lk 8080 --exec /bin/cat >/dev/null 2>&1 &
in_node ncat -lk 22 --exec /bin/cat >/dev/null 2>&1 &
sleep 0.3
topo_warm "$tag" c 1
topo_warm "$tag" c 3

ping_web() { ip netns exec "$CLI" ping -c1 -W1 10.77.1.2; }       # web's ingress: denied
web_pings_out() { ip netns exec "$WEB" ping -c1 -W1 10.77.2.2; }  # web's egress: denied
connect_web() { ip netns exec "$CLI" ncat -z -w 2 10.77.1.2 8080; }  # allowed
ping_x() { ip netns exec "$CLI" ping -c1 -W1 10.77.3.2; }         # x's ingress: denied
ping_node() { ip netns exec "$OUT" ping -c1 -W1 10.78.0.1; }      # the uplink's ingress: denied
ssh_node() { ip netns exec "$OUT" ncat -z -w 2 10.78.0.1 22; }    # allowed

expect_ok "no policy yet: client pings web" ping_web
expect_ok "no policy yet: client pings x" ping_x
expect_ok "no policy yet: out pings the node" ping_node

{ topo_workloads_yaml "$tag"; cat <<YAML
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: node, labels: {role: node}}
spec: {interface: $tag-up, attach: host, ips: [10.78.0.1]}
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  ingress: [{from: [{selector: {matchLabels: {app: client}}}], ports: [{port: 8080}]}]
  egress: [{to: [{cidr: 192.0.2.1/32}]}]
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: node}
spec:
  selector: {matchLabels: {role: node}}
  ingress: [{from: [{cidr: 10.78.0.0/24}], ports: [{port: 22}]}]
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: x}
spec:
  selector: {matchLabels: {app: x}}
  ingress: [{from: [{cidr: 192.0.2.1/32}]}]
YAML
} >"$work/objects.yaml"
cat >"$work/x.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: x, labels: {app: x}}
spec: {interface: $tag-xh, ips: [10.77.3.2]}
YAML

# nsenter execs the agent: $! is the agent itself
nsenter --net="/run/netns/$NODE" "$ZS" agent --socket "$SOCK" --bpf-pin-dir "$PIN" --state-dir "$STATE" \
  --attach-check-interval 2s --metrics-listen "127.0.0.1:$MPORT" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && zs workload list >/dev/null 2>&1 && break; sleep 0.1; done
zs workload list >/dev/null 2>&1 || { cat "$work/agent.log"; die "the agent did not come up"; }

metric() {  # NAME{LABELS} as printed, or a bare NAME: its value (0 when absent)
  in_node curl -sf "http://127.0.0.1:$MPORT/metrics" |
    awk -v m="$1" '$1 == m { v = $2 } END { print (v == "" ? 0 : v) }'
}
repairs() { metric "zeroseg_attach_repairs_total{hook=\"$1\",direction=\"$2\"}"; }
hooks_of() {  # the hooks status reads from the kernel for an interface: in/out
  in_node "$ZS" status --datapath-only --bpf-pin-dir "$PIN" -o json 2>/dev/null |
    python3 -c "import json,sys; print([e['hooks'] for e in json.load(sys.stdin)['endpoints'] if e['interface']=='$1'][0])"
}
# wait_for DESCRIPTION CMD...: polls up to 60 s (repairs come on the next
# event or check; the machine may be slow: no timing is asserted)
wait_for() {
  local what=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && { pass "$what"; return 0; }; sleep 0.2; done
  fail "$what (not within 60 s)"
}
is() { [ "$($1 "${@:2:$#-2}")" = "${*: -1}" ]; }  # is FN ARGS... VALUE
at_least() { local v; v=$($1 "${@:2:$#-2}"); [ "${v%.*}" -ge "${*: -1}" ]; }

echo "== enforced"
out=$(zs apply -f "$work/objects.yaml" 2>&1) || die "apply: $out"
expect_ok "status exits 0 while every interface is enforced" in_node "$ZS" status --bpf-pin-dir "$PIN" --socket "$SOCK"
is hooks_of "$tag-wh" tc/tc && pass "web: tc/tc" || fail "web hooks: $(hooks_of "$tag-wh")"
is hooks_of "$tag-up" xdp/tc && pass "uplink: xdp/tc" || fail "uplink hooks: $(hooks_of "$tag-up")"
expect_fail "web's ingress: ping denied" ping_web
expect_fail "web's egress: ping out denied" web_pings_out
expect_ok "web's ingress: TCP 8080 allowed" connect_web
expect_fail "uplink: ping to the node denied" ping_node
expect_ok "uplink: SSH to the node allowed" ssh_node
wait_for "the periodic check runs (zeroseg_attach_checks_total grows)" at_least metric zeroseg_attach_checks_total 3

echo "== the clsact qdisc deleted"
in_node tc qdisc del dev "$tag-wh" clsact || die "deleting the qdisc"
wait_for "web's tc hooks are back" is hooks_of "$tag-wh" tc/tc
wait_for "repairs counted: tc ingress" at_least repairs tc ingress 1
wait_for "repairs counted: tc egress" at_least repairs tc egress 1
expect_fail "web's ingress: ping denied again" ping_web
expect_fail "web's egress: ping out denied again" web_pings_out
expect_ok "web's ingress: TCP 8080 still allowed" connect_web

echo "== another program on our tc filter"
before=$(repairs tc egress)
in_node tc filter replace dev "$tag-wh" egress prio 1 handle 0x7a73 bpf da object-pinned "$PIN/zs_tc_trace" ||
  die "replacing our filter"
wait_for "the foreign egress program is replaced by ours (repairs: tc egress)" at_least repairs tc egress $((before + 1))
ours=$(in_node "$ZS" status --datapath-only --bpf-pin-dir "$PIN" -o json 2>/dev/null |
  python3 -c "import json,sys; print([p['id'] for p in json.load(sys.stdin)['programs'] if p['name']=='zs_tc_egress'][0])")
if in_node tc filter show dev "$tag-wh" egress | grep -q " id $ours "; then pass "our egress program (id $ours) is on the filter"
else fail "filter: $(in_node tc filter show dev "$tag-wh" egress | tr '\n' ' ')"; fi
expect_fail "web's ingress: ping denied again" ping_web

echo "== the uplink's XDP program switched off"
in_node ip link set dev "$tag-up" xdpdrv off || die "xdp off"
wait_for "the uplink's XDP hook is back" is hooks_of "$tag-up" xdp/tc
wait_for "repairs counted: xdp ingress" at_least repairs xdp ingress 1
expect_fail "uplink: ping to the node denied again" ping_node
expect_ok "uplink: SSH to the node still allowed" ssh_node

echo "== an attach that fails: an ingress qdisc where clsact goes"
in_node tc qdisc add dev "$tag-xh" ingress || die "adding an ingress qdisc"
failures_before=$(metric zeroseg_attach_failures_total)
if out=$(zs apply -f "$work/x.yaml" 2>&1); then fail "apply of x succeeded: $out"
elif [[ $out == *"Workload/default/x created"* && $out == *"not enforced on $tag-xh (default/x)"* ]]; then
  pass "apply says x is created and not enforced (exit non-zero)"
else fail "apply of x said: $out"; fi
out=$(zs apply -f "$work/x.yaml" -o json 2>/dev/null)
if [[ $out == *'"not_enforced"'* && $out == *"$tag-xh"* ]]; then pass "apply -o json lists not_enforced"; else fail "apply -o json: $out"; fi
out=$(in_node "$ZS" status --bpf-pin-dir "$PIN" --socket "$SOCK" 2>&1); rc=$?
if [ "$rc" != 1 ]; then fail "status exits $rc with x not enforced (want 1: degraded)"
elif [[ $out == *"NOT ENFORCED: $tag-xh (default/x)"* && $out == *"degraded: not enforced on $tag-xh"* ]]; then
  pass "status names x, exits 1 (degraded)"
else fail "status said: $(echo "$out" | grep -i enforc)"; fi
[ "$(metric zeroseg_interfaces_not_enforced)" = 1 ] && pass "zeroseg_interfaces_not_enforced 1" ||
  fail "zeroseg_interfaces_not_enforced $(metric zeroseg_interfaces_not_enforced)"
at_least metric zeroseg_attach_failures_total $((${failures_before%.*} + 1)) && pass "zeroseg_attach_failures_total went up" ||
  fail "zeroseg_attach_failures_total $(metric zeroseg_attach_failures_total)"
is hooks_of "$tag-xh" none/none && pass "x has no hooks of ours (none under the ingress qdisc)" || fail "x hooks: $(hooks_of "$tag-xh")"

echo "== the obstacle removed: x is enforced without a new apply"
in_node tc qdisc del dev "$tag-xh" ingress || die "deleting the ingress qdisc"
wait_for "status exits 0 again" in_node "$ZS" status --bpf-pin-dir "$PIN" --socket "$SOCK"
is hooks_of "$tag-xh" tc/tc && pass "x: tc/tc" || fail "x hooks: $(hooks_of "$tag-xh")"
[ "$(metric zeroseg_interfaces_not_enforced)" = 0 ] && pass "zeroseg_interfaces_not_enforced 0" ||
  fail "zeroseg_interfaces_not_enforced $(metric zeroseg_interfaces_not_enforced)"
expect_fail "x's ingress: ping denied" ping_x
expect_ok "the agent is still up" kill -0 "$agent_pid"

kill -TERM "$agent_pid" && wait "$agent_pid" 2>/dev/null
agent_pid=
cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
[ "$E2E_CHECKS" -gt 0 ] || die "no checks ran"
e2e_summary
