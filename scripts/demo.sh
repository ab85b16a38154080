#!/usr/bin/env bash
# zeroseg's demo: identity-based enforcement on a workload's veth, with real
# traffic between network namespaces. Builds what it needs, cleans up after
# itself (also on Ctrl-C or failure). Until scripts/lab.sh lands, the lab is
# three namespaces: client -- node -- web.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=lib/topology.sh
source scripts/lib/topology.sh

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (namespaces, BPF)" >&2; exit 1; }

step=0
STEPS=7
say() { step=$((step + 1)); printf '\n\033[1m==> %d/%d %s\033[0m\n' "$step" "$STEPS" "$*"; }
note() { printf '    %s\n' "$*"; }

say "build"
if [ ! -x build/userspace/zeroseg ]; then
  bash scripts/install-deps.sh
  cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
fi
ZS=$root/build/userspace/zeroseg
note "$("$ZS" --version)"

tag=zs-demo
PIN=/sys/fs/bpf/$tag
cleanup() {
  [ -n "${conn_pid:-}" ] && kill "$conn_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "${fifo_dir:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
topo_down "$tag" "$ZS" "$PIN"  # a run interrupted before

zs() { nsenter --net="/run/netns/$tag-n" "$ZS" "$@" --bpf-pin-dir "$PIN"; }
in_cli() { ip netns exec "$tag-c" "$@"; }

# probe DESCRIPTION CMD...: one aligned line, allowed or denied
probe() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then printf '    %-34s \033[32mallowed\033[0m\n' "$what"
  else printf '    %-34s \033[31mdenied\033[0m\n' "$what"; fi
}
probes() {
  probe "client -> web  tcp/8080" in_cli ncat -z -w 1 $TOPO_WEB_IP 8080
  probe "client -> web  tcp/22" in_cli ncat -z -w 1 $TOPO_WEB_IP 22
  probe "client -> web  ping" in_cli ping -c1 -W1 $TOPO_WEB_IP
  probe "client -> web  tcp/8080 over IPv6" in_cli ncat -z -w 1 $TOPO_WEB_IP6 8080
}

say "lab: client ($TOPO_CLI_IP) -- node -- web ($TOPO_WEB_IP), services on web tcp/8080 and tcp/22"
topo_up "$tag"
for port in 8080 22; do ip netns exec "$tag-w" ncat -lk $port --exec /bin/cat >/dev/null 2>&1 & done
sleep 0.3
note "no zeroseg yet: the flat network lets everything through"
probes

say "attach zeroseg to web's veth: web is identity 1000, both directions enforce (default deny)"
zs bpf load >/dev/null
zs bpf attach "$tag-wh" --identity 1000 --ingress enforce --egress enforce | sed 's/^/    /'
probes

say "client's address is identity 2000; policy: 2000 may reach 1000 on tcp/8080, nothing else"
zs bpf ipcache set $TOPO_CLI_IP/32 2000
zs bpf ipcache set $TOPO_CLI_IP6/128 2000
zs bpf policy set --subject 1000 --peer 2000 --direction ingress --proto tcp --port 8080 --allow --rule 1
probes
note ""
note "the flows conntrack holds (replies pass as part of them):"
zs bpf dump conntrack | sed 's/^/    /'

say "revoke the rule while a connection is open: zeroseg cuts it at once"
fifo_dir=$(mktemp -d)
mkfifo "$fifo_dir/in" "$fifo_dir/out"
in_cli ncat $TOPO_WEB_IP 8080 <"$fifo_dir/in" >"$fifo_dir/out" &
conn_pid=$!
exec 7>"$fifo_dir/in" 8<"$fifo_dir/out"
echo_line() { echo "$1" >&7 && IFS= read -r -t 2 reply <&8 && [ "$reply" = "$1" ]; }
probe "open connection: data echoed" echo_line "hello"
zs bpf policy delete --subject 1000 --peer 2000 --direction ingress --proto tcp --port 8080
probe "same connection after revoke" echo_line "again"
probe "new connection after revoke" in_cli ncat -z -w 1 $TOPO_WEB_IP 8080

say "just-in-time access: tcp/22 for 3 seconds, expired by the kernel itself"
zs bpf policy set --subject 1000 --peer 2000 --direction ingress --proto tcp --port 22 --allow --rule 2 --expires +3s
probe "client -> web  tcp/22 (granted)" in_cli ncat -z -w 1 $TOPO_WEB_IP 22
sleep 3.2
probe "client -> web  tcp/22 (3s later)" in_cli ncat -z -w 1 $TOPO_WEB_IP 22

say "status: programs, attachments, map fill, counters by verdict and reason"
zs status | sed 's/^/    /'
printf '\ndemo done: cleaning up the namespaces and pins\n'
