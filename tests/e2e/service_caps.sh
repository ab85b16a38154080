#!/usr/bin/env bash
# The unit's CapabilityBoundingSet is enough and none of it is spare: the
# agent runs with exactly that bounding set (setpriv, as systemd sets it
# for a root service) through what it does on a host (load and pin the
# programs, attach to a workload, enforce a policy with real packets,
# policy trace, a restart that reuses the pins, the attachment check,
# /metrics); then once per capability with that one taken away, where
# something of it must fail.
#
# Usage: service_caps.sh PATH/TO/zeroseg [UNIT]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"
e2e_require_root
command -v setpriv >/dev/null || e2e_skip "setpriv (util-linux) missing"

ZS=$(realpath "$1")
UNIT=${2:-$here/../../deploy/zeroseg.service}
tag=zs-k$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
SOCK=$work/zeroseg.sock PIN=/sys/fs/bpf/$tag STATE=$work/state
agent_pid=

cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "$work"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --socket "$SOCK"; }
probe() { ip netns exec "$tag-c" ncat -z -w 1 10.77.1.2 "$1" >/dev/null 2>&1; }

# the unit's set, as setpriv spells it: "-all,+bpf,+net_admin,..."
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
[ -n "$unit_caps" ] || { echo "FAIL: no CapabilityBoundingSet= in $UNIT"; exit 1; }
bounding() {  # CAP_X ... -> -all,+x,...
  local out=-all c
  for c in "$@"; do out+=",+$(echo "${c#CAP_}" | tr '[:upper:]' '[:lower:]')"; done
  echo "$out"
}

# start_agent CAPS LOG: the agent in the node namespace with only CAPS
start_agent() {
  local caps=$1 log=$2
  # shellcheck disable=SC2086  # CAPS is a list
  nsenter --net="/run/netns/$NODE" setpriv --bounding-set "$(bounding $caps)" --inh-caps=-all -- \
    "$ZS" agent --socket "$SOCK" --bpf-pin-dir "$PIN" --state-dir "$STATE" --attach-check-interval 1s \
    --metrics-listen 127.0.0.1:9464 >"$log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 600); do
    [ -S "$SOCK" ] && zs workload list >/dev/null 2>&1 && return 0
    kill -0 "$agent_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_agent() { [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; agent_pid=; }
reset_agent() {  # nothing of the last run: pins, programs, state
  stop_agent
  in_node "$ZS" agent --uninstall --bpf-pin-dir "$PIN" --state-dir "$STATE" >/dev/null 2>&1
  rm -rf "$PIN" "$STATE" "$SOCK"
}

# run_host CAPS NAME: everything the agent does on a host; 1 with the
# first step that failed in $why, or 0 (not in a subshell: agent_pid)
why=
run_host() {
  local rc
  run_steps "$@" >"$work/why"
  rc=$?
  why=$(cat "$work/why")
  return $rc
}
run_steps() {
  local caps=$1 n=$2 out
  start_agent "$caps" "$work/agent.$n.log" || { echo "start: $(tail -3 "$work/agent.$n.log")"; return 1; }
  zs apply -f "$work/objects.yaml" >"$work/apply.$n" 2>&1 || { echo "apply: $(tail -3 "$work/apply.$n")"; return 1; }
  grep -q not_enforced "$work/apply.$n" && { echo "apply: not enforced: $(cat "$work/apply.$n")"; return 1; }
  ! probe 80 || { echo "enforce: web:80 reached under the deny"; return 1; }
  probe 81 || { echo "enforce: web:81 not reached under the allow"; return 1; }
  out=$(zs policy trace --from client --to web --port 80/tcp 2>&1)
  [[ $out == *"verdict: denied"* ]] || { echo "policy trace: $out"; return 1; }
  out=$(in_node curl -s --max-time 5 http://127.0.0.1:9464/metrics)
  [[ $out == *zeroseg_* ]] || { echo "metrics: none"; return 1; }
  sleep 2  # two attachment checks against the kernel
  out=$(zs status --bpf-pin-dir "$PIN" 2>&1) || { echo "status: $out"; return 1; }
  stop_agent
  start_agent "$caps" "$work/agent.$n.restart.log" ||
    { echo "restart on the pins: $(tail -3 "$work/agent.$n.restart.log")"; return 1; }
  ! probe 80 || { echo "restart: web:80 reached"; return 1; }
  grep -qi "operation not permitted\|permission denied" "$work/agent.$n.log" "$work/agent.$n.restart.log" &&
    { echo "log: $(grep -hi "operation not permitted\|permission denied" "$work/agent.$n.log" "$work/agent.$n.restart.log" | head -2)"; return 1; }
  return 0
}

topo_web_81_up "$tag" "$work/objects.yaml" || exit 1

read -ra caps <<<"$unit_caps"
echo "== the unit's bounding set: ${caps[*]}"
if run_host "${caps[*]}" all; then pass "the agent does its work with ${caps[*]}"; else fail "with ${caps[*]}: $why"; fi
reset_agent
for drop in "${caps[@]}"; do
  rest=()
  for c in "${caps[@]}"; do [ "$c" = "$drop" ] || rest+=("$c"); done
  if run_host "${rest[*]}" "no-$drop"; then
    fail "without $drop the agent still does everything: $drop is spare"
  else
    pass "without $drop: $why"
  fi
  reset_agent
done

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
