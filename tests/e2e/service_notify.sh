#!/usr/bin/env bash
# Type=notify as systemd runs it: the agent says READY=1 only once it
# enforces the stored state. A policy is applied and stored, the agent
# stopped and its programs and pins removed (`agent --uninstall`: nothing
# enforces, the state directory stays); then the agent starts with
# NOTIFY_SOCKET set (an abstract socket, as systemd's own), and at READY=1
# the listener freezes it (SIGSTOP) and sends real packets: the stored
# policy's deny must already hold and its allow pass. STATUS= comes before
# READY=1, everything from the agent's own pid; STOPPING=1 on SIGTERM.
#
# Usage: service_notify.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"
e2e_require_root

ZS=$(realpath "$1")
tag=zs-y$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
SOCK=$work/zeroseg.sock PIN=/sys/fs/bpf/$tag STATE=$work/state
agent_pid='' listener_pid=''

cleanup() {
  [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
  [ -n "$agent_pid" ] && kill -CONT "$agent_pid" 2>/dev/null && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "$work"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --socket "$SOCK"; }
agent_up() {  # LOG: up to 60 s, the programs are verified on a loaded machine
  for _ in $(seq 600); do
    [ -S "$SOCK" ] && zs workload list >/dev/null 2>&1 && return 0
    kill -0 "$agent_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "agent did not come up:"; cat "$1"; return 1
}
stop_agent() { kill -TERM "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=; }
# the client (index 2) to web (index 1): port 80 the policy denies, 81 it allows
probe() { ip netns exec "$tag-c" ncat -z -w 1 10.77.1.2 "$1" >/dev/null 2>&1; }

topo_web_81_up "$tag" "$work/objects.yaml" || exit 1

echo "== the stored state: a policy applied, then nothing enforcing it"
expect_ok "no policy yet: client reaches web:80" probe 80
# nsenter execs the agent: $! is the agent itself (a function would fork)
nsenter --net="/run/netns/$NODE" "$ZS" agent --socket "$SOCK" --bpf-pin-dir "$PIN" --state-dir "$STATE" \
  >"$work/agent.1.log" 2>&1 &
agent_pid=$!
agent_up "$work/agent.1.log" || exit 1
expect_ok "apply the policy" zs apply -f "$work/objects.yaml"
expect_fail "the policy denies web:80" probe 80
expect_ok "the policy allows web:81" probe 81
stop_agent
expect_ok "agent --uninstall: programs and pins gone" \
  in_node "$ZS" agent --uninstall --bpf-pin-dir "$PIN" --state-dir "$STATE"
expect_ok "nothing enforces: web:80 reached again (a READY check could fail)" probe 80
expect_ok "the state directory keeps the policy" grep -rq "name: web" "$STATE"

echo "== the agent started as systemd's Type=notify: READY=1 only once enforcing"
# an abstract socket lives in a network namespace: the listener runs in the agent's
notify="@$tag-notify"
nsenter --net="/run/netns/$NODE" python3 -u "$here/notify_listener.py" --socket "$notify" --out "$work/notify" --timeout 240 \
  --on-ready "! nsenter --net=/run/netns/$tag-c ncat -z -w 1 10.77.1.2 80 && nsenter --net=/run/netns/$tag-c ncat -z -w 2 10.77.1.2 81" \
  >"$work/listener.log" 2>&1 &
listener_pid=$!
for _ in $(seq 100); do grep -q LISTENING "$work/listener.log" && break; sleep 0.1; done
NOTIFY_SOCKET=$notify nsenter --net="/run/netns/$NODE" "$ZS" agent --socket "$SOCK" --bpf-pin-dir "$PIN" \
  --state-dir "$STATE" >"$work/agent.2.log" 2>&1 &
agent_pid=$!
agent_up "$work/agent.2.log" || exit 1
for _ in $(seq 100); do grep -q "^ON-READY" "$work/notify" 2>/dev/null && break; sleep 0.1; done
msgs=$(cat "$work/notify" 2>/dev/null)
expect_contains "READY=1 arrived" "$msgs" "READY=1"
expect_eq "at READY=1 the stored policy held: web:80 denied, web:81 allowed" \
  "$(awk -F'\t' '$1 == "ON-READY" {print $2}' "$work/notify")" 0
expect_eq "every message from the agent's own pid (NotifyAccess=main)" \
  "$(awk -F'\t' '$1 != "ON-READY" {print $1}' "$work/notify" | sort -u)" "$agent_pid"
expect_eq "a STATUS= line before READY=1" \
  "$(awk -F'\t' '$2 ~ /^STATUS=/ {print "status"; exit} $2 == "READY=1" {print "ready"; exit}' "$work/notify")" status
expect_contains "READY's STATUS says what is enforced" "$msgs" "STATUS=enforcing 3 objects"
expect_ok "the API answers after READY" zs workload list
expect_fail "still enforced after READY: web:80 denied" probe 80
stop_agent
for _ in $(seq 50); do kill -0 "$listener_pid" 2>/dev/null || break; sleep 0.1; done
expect_contains "STOPPING=1 on SIGTERM" "$(cat "$work/notify")" "STOPPING=1"
expect_fail "the agent's SIGTERM leaves enforcement: web:80 denied" probe 80
wait "$listener_pid" 2>/dev/null; listener_pid=

echo "== without NOTIFY_SOCKET the agent runs as before"
nsenter --net="/run/netns/$NODE" "$ZS" agent --socket "$SOCK" --bpf-pin-dir "$PIN" --state-dir "$STATE" \
  >"$work/agent.3.log" 2>&1 &
agent_pid=$!
expect_ok "the agent comes up with no manager" agent_up "$work/agent.3.log"
stop_agent

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
