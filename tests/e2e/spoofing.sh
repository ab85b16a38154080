#!/usr/bin/env bash
# Spoofed sources with real packets (issue 15, item 1). In the lab,
# prod/db admits only prod/app (tcp/5432, udp/53). guest/attacker sends a
# TCP SYN and a UDP datagram carrying prod/app's address, IPv4 and IPv6,
# from a packet socket; and from an "outside" namespace behind an uplink
# attached as host, the same. A packet socket in db's namespace counts
# what arrives. Each case arrives with no agent, and does not arrive once
# the agent enforces (spoofed-source on the attacker's veth,
# uplink-spoofed-source on the uplink), whatever the attacker's own mode
# (no policy selects it). Controls: app's own packets still arrive, and
# so does outside's traffic under its own address. Then the attacker is
# made a router (allowedSourcePrefixes covering the lab): it still cannot
# send as prod/app (carved out), but a routed source no workload has
# arrives; made a router for IPv6 only (::/0), it sends no IPv4.
#
# Linux's reverse path filter, which would drop some of these by itself,
# is off in the node: what stops them must be zeroseg.
#
# Usage: spoofing.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
LAB=zs-s$(($$ % 1000))
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
probe=$here/spoof_probe.py
work=$(mktemp -d)
cleanup() {
  [ -n "${recv_pid:-}" ] && kill "$recv_pid" 2>/dev/null
  lab_down
  rm -rf "$work"
}
trap cleanup EXIT

lab_up --no-agent || { echo "FAIL: the lab did not come up"; exit 1; }
NODE=$(lab_node)
OUT=$LAB-node-out  # a name lab_down removes with the node's
UP=$LAB-up
{
  ip netns add "$OUT" && ip -n "$OUT" link set lo up &&
    ip link add "$UP" netns "$NODE" type veth peer name eth0 netns "$OUT" &&
    ip -n "$NODE" addr add 10.99.0.1/24 dev "$UP" && ip -n "$NODE" addr add fd99::1/64 dev "$UP" nodad &&
    ip -n "$OUT" addr add 10.99.0.2/24 dev eth0 && ip -n "$OUT" addr add fd99::2/64 dev eth0 nodad &&
    ip -n "$NODE" link set "$UP" up && ip -n "$OUT" link set eth0 up &&
    ip -n "$OUT" route add default via 10.99.0.1 && ip -n "$OUT" -6 route add default via fd99::1 &&
    ip netns exec "$NODE" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
} || { echo "FAIL: building the uplink"; exit 1; }
for dev in $(ip -n "$NODE" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip netns exec "$NODE" sysctl -qw "net.ipv4.conf.$dev.rp_filter=0" || { echo "FAIL: rp_filter on $dev"; exit 1; }
done
ATTACKER_GW=$(mac_of "$NODE" "$LAB-w6") UP_MAC=$(mac_of "$NODE" "$UP")
ATTACKER_NS=$(lab_netns guest/attacker) APP_NS=$(lab_netns prod/app)
APP_GW=$(mac_of "$NODE" "$LAB-w2") DEVWEB_NS=$(lab_netns dev/web)

# arrivals TO_NS FROM_NS GW_MAC PROTO SRC DST DPORT: how many of one packet
# sent from FROM_NS (out of eth0 to GW_MAC) reach TO_NS; "error" when the
# sending failed (never a vacuous 0)
sport=41000
arrivals() {
  local to=$1 from=$2 mac=$3 proto=$4 src=$5 dst=$6 dport=$7
  sport=$((sport + 1))
  rm -f "$work/ready"
  ip netns exec "$to" python3 "$probe" recv eth0 "$src" "$sport" "$dport" 1.5 >"$work/count" 2>"$work/ready" &
  recv_pid=$!
  for _ in $(seq 100); do grep -q ready "$work/ready" 2>/dev/null && break; sleep 0.02; done
  if ! grep -q ready "$work/ready" 2>/dev/null; then wait "$recv_pid"; recv_pid=; echo error; return; fi
  if ! ip netns exec "$from" python3 "$probe" send eth0 "$mac" "$proto" "$src" "$dst" "$sport" "$dport"; then
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

DB_NS=$(lab_netns prod/db)
# cases PHASE CHECK: every spoofed case, judged by CHECK (arrives|stopped)
cases() {
  local phase=$1 check=$2 f app db
  for f in 4 6; do
    app=$(lab_ip prod/app $f) db=$(lab_ip prod/db $f)
    $check "$phase: IPv$f TCP SYN from the attacker as prod/app to db:5432" \
      "$(arrivals "$DB_NS" "$ATTACKER_NS" "$ATTACKER_GW" tcp "$app" "$db" 5432)"
    $check "$phase: IPv$f UDP from the attacker as prod/app to db:53" \
      "$(arrivals "$DB_NS" "$ATTACKER_NS" "$ATTACKER_GW" udp "$app" "$db" 53)"
    $check "$phase: IPv$f TCP SYN from outside, through the uplink, as prod/app to db:5432" \
      "$(arrivals "$DB_NS" "$OUT" "$UP_MAC" tcp "$app" "$db" 5432)"
    $check "$phase: IPv$f UDP from outside, through the uplink, as prod/app to db:53" \
      "$(arrivals "$DB_NS" "$OUT" "$UP_MAC" udp "$app" "$db" 53)"
  done
}
controls() {  # PHASE: what must arrive in every phase
  local f app db out devweb
  for f in 4 6; do
    app=$(lab_ip prod/app $f) db=$(lab_ip prod/db $f) devweb=$(lab_ip dev/web $f)
    out=10.99.0.2; [ $f = 6 ] && out=fd99::2
    arrives "$1: IPv$f TCP SYN from prod/app itself to db:5432" \
      "$(arrivals "$DB_NS" "$APP_NS" "$APP_GW" tcp "$app" "$db" 5432)"
    arrives "$1: IPv$f TCP SYN from outside under its own address to dev/web:80" \
      "$(arrivals "$DEVWEB_NS" "$OUT" "$UP_MAC" tcp "$out" "$devweb" 80)"
  done
}

echo "== no agent: nothing enforced"
cases "no agent" arrives
controls "no agent"

echo "== the agent, db admitting only prod/app, the uplink attached as host"
lab_agent_up || { echo "FAIL: the agent did not come up"; exit 1; }
cat >"$work/policy.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: db-from-app, namespace: prod}
spec:
  selector: {matchLabels: {tier: db}}
  ingress:
  - from: [{selector: {matchLabels: {tier: app}}}]
    ports: [{port: 5432}, {port: 53, protocol: UDP}]
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: uplink, namespace: prod}
spec: {interface: $UP, attach: host, ips: [10.99.0.1, "fd99::1"]}
YAML
expect_ok "policy and uplink applied" lab_zs apply -f "$work/policy.yaml"
cases "enforced" stopped
controls "enforced"

# named, counted, reported
counters=$(lab_zs status -o json) || { fail "zeroseg status"; counters=""; }
for r in spoofed-source uplink-spoofed-source; do
  n=$(echo "$counters" | python3 -c "import json, sys; print(json.load(sys.stdin)['counters']['reason']['$r']['packets'])" 2>/dev/null)
  if [ "${n:-0}" -ge 4 ]; then pass "status counts $n packets dropped as $r"; else fail "status counts ${n:-?} packets as $r"; fi
done
sleep 1  # the flow log is written by the agent's telemetry thread
for r in spoofed-source uplink-spoofed-source; do
  if grep -q "\"$r\"" "$(lab_dir)/flows.json"; then pass "the flow log has deny records with reason $r"; else fail "no flow record with reason $r"; fi
done

echo "== guest/attacker made a router: allowedSourcePrefixes 10.0.0.0/8, fd00::/8"
# Its prefixes cover every lab workload's address: those are carved out
# (it may not send as prod/app), what no workload has is allowed through.
{ lab_objects_yaml | awk -v want="$LAB-w6" '
    /^---$/ { if (doc ~ ("interface: " want)) printf "%s", doc; doc = ""; next }
    { doc = doc $0 "\n" }
    END { if (doc ~ ("interface: " want)) printf "%s", doc }'
  echo '  allowedSourcePrefixes: [10.0.0.0/8, "fd00::/8"]'
} >"$work/router.yaml"
grep -q "name: attacker" "$work/router.yaml" || fail "the attacker's Workload for the router case"
expect_ok "guest/attacker given allowedSourcePrefixes" lab_zs apply -f "$work/router.yaml"
for f in 4 6; do
  app=$(lab_ip prod/app $f) db=$(lab_ip prod/db $f) devweb=$(lab_ip dev/web $f)
  routed=10.55.0.9; [ $f = 6 ] && routed=fd55::9
  stopped "router: IPv$f TCP SYN from the attacker as prod/app (inside its prefix) to db:5432" \
    "$(arrivals "$DB_NS" "$ATTACKER_NS" "$ATTACKER_GW" tcp "$app" "$db" 5432)"
  arrives "router: IPv$f TCP SYN from the attacker as $routed (routed, no workload's) to dev/web:80" \
    "$(arrivals "$DEVWEB_NS" "$ATTACKER_NS" "$ATTACKER_GW" tcp "$routed" "$devweb" 80)"
done
controls "router"

echo "== guest/attacker a router for IPv6 only: allowedSourcePrefixes ::/0"
# Was a hole (attack review 3): the datapath's source prefix trie reads an
# IPv4 source as ::ffff:a.b.c.d, which ::/0 covers, and the carve-outs are
# per family: this router sent IPv4 from any address, prod/app's included.
sed 's|allowedSourcePrefixes: .*|allowedSourcePrefixes: ["::/0"]|' "$work/router.yaml" >"$work/router6.yaml"
grep -q '"::/0"' "$work/router6.yaml" || fail "the attacker's Workload for the IPv6 router case"
expect_ok "guest/attacker given allowedSourcePrefixes ::/0" lab_zs apply -f "$work/router6.yaml"
app=$(lab_ip prod/app 4) db=$(lab_ip prod/db 4) devweb=$(lab_ip dev/web 4)
stopped "IPv6 router: IPv4 TCP SYN from the attacker as prod/app to db:5432" \
  "$(arrivals "$DB_NS" "$ATTACKER_NS" "$ATTACKER_GW" tcp "$app" "$db" 5432)"
stopped "IPv6 router: IPv4 TCP SYN from the attacker as 10.55.0.9 (no IPv4 prefix) to dev/web:80" \
  "$(arrivals "$DEVWEB_NS" "$ATTACKER_NS" "$ATTACKER_GW" tcp 10.55.0.9 "$devweb" 80)"
arrives "IPv6 router: IPv6 TCP SYN from the attacker as fd55::9 (routed) to dev/web:80" \
  "$(arrivals "$DEVWEB_NS" "$ATTACKER_NS" "$ATTACKER_GW" tcp fd55::9 "$(lab_ip dev/web 6)" 80)"
controls "IPv6 router"

cleanup
trap - EXIT
e2e_nothing_left "$LAB" "/sys/fs/bpf/$LAB"
e2e_summary
