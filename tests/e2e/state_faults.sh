#!/usr/bin/env bash
# The state directory under faults: the agent SIGKILLed at random points of
# an apply loop, a full state dir (tmpfs), a journal torn in the middle and
# at its end, an unreadable snapshot. After any of them the agent either
# starts with the maps equal to the stored desired state (and every apply
# that returned success in it), or refuses to start with the pinned
# enforcement untouched; it never reconciles to nothing.
#
# "The maps equal the stored desired state": the set of policies the agent
# reports equals the set the successful applies and deletes left (the one
# apply or delete in flight at the kill may be in or out: it never returned
# success), and the policy map's entries (rule ids aside, which number
# differently with history) equal those a clean run of the same set left.
#
# Usage: state_faults.sh PATH/TO/zeroseg [ITERATIONS]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"
e2e_require_root

ZS=$(realpath "$1")
ITER=${2:-200}
tag=zs-s$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
SOCK=$work/zeroseg.sock PIN=/sys/fs/bpf/$tag STATE=$work/state
agent_pid=
ops_pid=

cleanup() {
  [ -n "$ops_pid" ] && kill "$ops_pid" 2>/dev/null && wait "$ops_pid" 2>/dev/null
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  mountpoint -q "$work/small" && umount "$work/small"
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "$work"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --socket "$SOCK"; }
starts=0
# start_agent [STATE_DIR]: returns once the agent answers, 1 when it exited
start_agent() {
  starts=$((starts + 1))
  # nsenter execs the agent: $! is the agent itself
  nsenter --net="/run/netns/$NODE" "$ZS" agent --socket "$SOCK" --bpf-pin-dir "$PIN" --state-dir "${1:-$STATE}" \
    >"$work/agent.log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 200); do
    if [ -S "$SOCK" ] && zs workload list >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$agent_pid" 2>/dev/null; then wait "$agent_pid"; agent_rc=$?; agent_pid=; return 1; fi
    sleep 0.05
  done
  echo "agent did not come up:"; cat "$work/agent.log"; return 1
}
stop_agent() { kill -TERM "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=; }
kill_agent() { kill -9 "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; agent_pid=; rm -f "$SOCK"; }

# the policy map's live entries (an all-zero slot is no entry), rule ids
# aside: one line per entry, sorted (awk, not python: this runs 400 times)
policy_map() {
  in_node "$ZS" bpf dump policy --bpf-pin-dir "$PIN" |
    awk 'NR > 1 && !($6 == "-" && $7 == "-") { print $1, $2, $3, $4, $5, ($6 == "-" ? "-" : "allow"), ($7 == "-" ? "-" : "deny") }' |
    sort
}
# the policies p1..p3 the agent holds, as "p1 p3"
agent_policies() {
  zs policy list -o json | grep -o '"name": *"p[1-3]"' | grep -o 'p[1-3]' | sort -u | paste -sd' '
}
# a -> b on TCP/80: "open" or "closed"
tcp_ab() { if ip netns exec "$tag-a" ncat -z -w 1 10.77.2.2 80 >/dev/null 2>&1; then echo open; else echo closed; fi; }

topo_node "$tag" || exit 1
topo_workload "$tag" a 1 || exit 1
topo_workload "$tag" b 2 || exit 1
ip netns exec "$tag-b" ncat -lk 80 --exec /bin/cat >/dev/null 2>&1 &
cat >"$work/workloads.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: a, namespace: lab, labels: {app: a}}
spec: {interface: $tag-ah, ips: [10.77.1.2]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: b, namespace: lab, labels: {app: b}}
spec: {interface: $tag-bh, ips: [10.77.2.2]}
YAML
# p1..p3: each a policy of its own; p0 closes b to everyone (kept throughout)
policy() {  # NAME PORT
  cat <<YAML
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: $1, namespace: lab}
spec:
  selector: {matchLabels: {app: b}}
  ingress: [{from: [{selector: {matchLabels: {app: a}}}], ports: [{port: $2}]}]
YAML
}
policy p1 81 >"$work/p1.yaml"; policy p2 82 >"$work/p2.yaml"; policy p3 83 >"$work/p3.yaml"
cat >"$work/p0.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: closed, namespace: lab}
spec:
  selector: {matchLabels: {app: b}}
  ingress: []
YAML

echo "== the maps of each set of policies, from clean applies"
start_agent || exit 1
zs apply -f "$work/workloads.yaml" >/dev/null && zs apply -f "$work/p0.yaml" >/dev/null || { fail "apply the base"; exit 1; }
declare -A MAPS
sets=("" "p1" "p2" "p3" "p1 p2" "p1 p3" "p2 p3" "p1 p2 p3")
for s in "${sets[@]}"; do
  for p in p1 p2 p3; do
    if [[ " $s " == *" $p "* ]]; then zs apply -f "$work/$p.yaml" >/dev/null; else zs delete -f "$work/$p.yaml" >/dev/null 2>&1; fi
  done
  [ "$(agent_policies)" = "$s" ] || { fail "set up {$s}: the agent holds {$(agent_policies)}"; exit 1; }
  MAPS[_$s]=$(policy_map)
done
[ "${MAPS[_p1]}" != "${MAPS[_p2]}" ] && [ "${MAPS[_p1]}" != "${MAPS[_]}" ] && pass "the sets of policies have maps of their own" ||
  fail "the sets of policies do not change the policy map"
[ "$(tcp_ab)" = closed ] && pass "a -> b:80 closed by policy" || fail "a -> b:80 open under policy"

echo "== (a) SIGKILL at random points of an apply loop, $ITER times"
# the op loop: random applies and deletes, each logged before ("try") and
# after ("ok") it returns; it ends at the first failure (the agent killed)
op_loop() {
  local p op
  while :; do
    p=p$((RANDOM % 3 + 1))
    if ((RANDOM % 2)); then op=apply; else op=delete; fi
    echo "try $op $p" >>"$work/ops"
    zs "$op" -f "$work/$p.yaml" >/dev/null 2>&1 || { echo "err $op $p" >>"$work/ops"; return; }
    echo "ok $op $p" >>"$work/ops"
  done
}
# fold_ops SET: "AFTER|ALT": SET after the ok ops of $work/ops, and with
# the op in flight at the kill (tried, never answered) done as well
fold_ops() {
  local -A have=()
  local p word op inflight="" out alt
  for p in $1; do have[$p]=1; done
  while read -r word op p; do
    case $word in
      try) inflight="$op $p" ;;
      ok) if [ "$op" = apply ]; then have[$p]=1; else unset "have[$p]"; fi; inflight="" ;;
    esac
  done <"$work/ops"
  out=$(printf '%s\n' "${!have[@]}" | grep . | sort | paste -sd' ')
  if [ -n "$inflight" ]; then
    read -r op p <<<"$inflight"
    if [ "$op" = apply ]; then have[$p]=1; else unset "have[$p]"; fi
  fi
  alt=$(printf '%s\n' "${!have[@]}" | grep . | sort | paste -sd' ')
  echo "$out|$alt"
}
model=$(agent_policies)
bad=0 oks=0 inflight_in=0 started=$SECONDS
for i in $(seq "$ITER"); do
  : >"$work/ops"
  op_loop &
  ops_pid=$!
  sleep "0.$(printf %03d $((RANDOM % 400)))"
  kill_agent
  wait "$ops_pid"; ops_pid=
  IFS='|' read -r after alt < <(fold_ops "$model")
  oks=$((oks + $(grep -c '^ok' "$work/ops")))
  if ! start_agent; then
    fail "iteration $i: the agent did not start again: $(tail -3 "$work/agent.log")"; bad=$((bad + 1)); break
  fi
  now=$(agent_policies)
  if [ "$now" != "$after" ] && [ "$now" != "$alt" ]; then
    fail "iteration $i: the agent holds {$now}, the successful applies left {$after}"; bad=$((bad + 1))
  elif [ "$(policy_map)" != "${MAPS[_$now]}" ]; then
    fail "iteration $i: the policy map is not that of {$now}: $(diff <(echo "${MAPS[_$now]}") <(policy_map) | head -5)"
    bad=$((bad + 1))
  fi
  [ "$now" != "$after" ] && inflight_in=$((inflight_in + 1))
  model=$now
  [ "$bad" -ge 3 ] && break
done
[ "$bad" = 0 ] && pass "$ITER kills: after each restart the agent holds every successful change and its maps match ($oks applies and deletes returned success, $inflight_in in-flight ones were kept, $((SECONDS - started)) s)"
[ "$oks" -ge $((ITER / 2)) ] && pass "the loop did work between kills ($oks successful changes)" || fail "only $oks successful changes in $ITER iterations"
[ "$(tcp_ab)" = closed ] && pass "a -> b:80 still closed after the kills" || fail "a -> b:80 open after the kills"
stop_agent

echo "== (b) a full state dir (tmpfs)"
mkdir -p "$work/small"
mount -t tmpfs -o size=512k tmpfs "$work/small" || { fail "mount a tmpfs"; exit 1; }
cp -a "$STATE" "$work/small/state"   # the same desired state, on the small disk
start_agent "$work/small/state" || { fail "start on the tmpfs"; exit 1; }
for p in p1 p2 p3; do zs delete -f "$work/$p.yaml" >/dev/null 2>&1; done
stop_agent
start_agent "$work/small/state" || { fail "start on the tmpfs"; exit 1; }   # desired.log compacted away:
before=$(policy_map)                                                          # its next record needs a page
dd if=/dev/zero of="$work/small/fill" bs=4k >/dev/null 2>&1   # until ENOSPC
out=$(zs apply -f "$work/p1.yaml" 2>&1) && fail "apply on a full disk succeeded: $out" ||
  { [[ "$out" == *"nothing changed"* && "$out" == *"No space left"* ]] && pass "apply on a full disk fails, saying nothing changed: $out" ||
      fail "apply on a full disk: unclear error: $out"; }
[ "$(policy_map)" = "$before" ] && pass "the maps are as they were" || fail "the maps changed on a failed apply"
[ "$(agent_policies)" = "" ] && pass "the agent does not hold p1" || fail "the agent holds {$(agent_policies)}"
rm -f "$work/small/fill"
out=$(zs apply -f "$work/p1.yaml" 2>&1)
[[ "$out" == *created* ]] && pass "with space again the retry applies: $out" || fail "retry: $out"
[ "$(policy_map)" = "${MAPS[_p1]}" ] && pass "the maps are p1's" || fail "the maps are not p1's after the retry"
stop_agent
start_agent "$work/small/state" || fail "restart on the tmpfs"
[ "$(agent_policies)" = "p1" ] && pass "after a restart p1 is there" || fail "after a restart: {$(agent_policies)}"
stop_agent
umount "$work/small"

echo "== (c) a journal torn in the middle, and at its end"
start_agent || exit 1
for p in p1 p2 p3; do zs delete -f "$work/$p.yaml" >/dev/null 2>&1; done
stop_agent
start_agent || exit 1   # starts from a short log
for p in p1 p2 p3; do zs apply -f "$work/$p.yaml" >/dev/null; done
stop_agent
cp "$STATE/desired.log" "$work/desired.log.good"
enforced=$(policy_map)
# one byte of the second record's payload changed
python3 - "$STATE/desired.log" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
second = b.index(b"@record ", 1)
at = b.index(b"\n", second) + 20
b[at] ^= 0x20
open(p, "wb").write(b)
PY
if start_agent; then fail "the agent started on a journal torn in the middle"; stop_agent
else
  [ "$agent_rc" != 0 ] && grep -q "desired.log: record 2 at byte offset" "$work/agent.log" &&
    pass "torn in the middle: refuses to start (exit $agent_rc): $(grep -o 'desired.log: record 2 at byte offset [0-9]*' "$work/agent.log")" ||
    fail "torn in the middle: exit $agent_rc, $(cat "$work/agent.log")"
fi
[ "$(policy_map)" = "$enforced" ] && pass "the pinned maps are untouched" || fail "the pinned maps changed"
[ "$(tcp_ab)" = closed ] && pass "a -> b:80 still closed" || fail "a -> b:80 open after a refused start"
cp "$work/desired.log.good" "$STATE/desired.log"
truncate -s -10 "$STATE/desired.log"   # the last record torn: a crash mid-append
if start_agent; then
  [ "$(agent_policies)" = "p1 p2" ] && pass "torn at the end: starts with the good records (p1 p2)" ||
    fail "torn at the end: the agent holds {$(agent_policies)}"
  [ "$(policy_map)" = "${MAPS[_p1 p2]}" ] && pass "and its maps are those of p1 p2" || fail "its maps are not those of p1 p2: $(diff <(echo "${MAPS[_p1 p2]}") <(policy_map) | head -5)"
  stop_agent
else fail "torn at the end: did not start: $(cat "$work/agent.log")"; fi

echo "== (d) an unreadable state"
enforced=$(policy_map)
mv "$STATE/desired.yaml" "$work/desired.yaml.good"
mkdir "$STATE/desired.yaml"   # read() fails (EISDIR), even for root
if start_agent; then fail "the agent started on an unreadable desired.yaml"; stop_agent
else
  [ "$agent_rc" != 0 ] && grep -q "refusing to start.*desired.yaml" "$work/agent.log" &&
    pass "unreadable: refuses to start (exit $agent_rc)" || fail "unreadable: exit $agent_rc, $(cat "$work/agent.log")"
fi
[ "$(policy_map)" = "$enforced" ] && pass "the pinned maps are untouched" || fail "the pinned maps changed"
[ "$(tcp_ab)" = closed ] && pass "a -> b:80 still closed" || fail "a -> b:80 open after a refused start"
rmdir "$STATE/desired.yaml"
printf 'kind: [unclosed\n' >"$STATE/desired.yaml"   # a corrupt snapshot
if start_agent; then fail "the agent started on a corrupt desired.yaml"; stop_agent
else
  [ "$agent_rc" != 0 ] && grep -q "refusing to start.*desired.yaml" "$work/agent.log" &&
    pass "corrupt snapshot: refuses to start (exit $agent_rc)" || fail "corrupt snapshot: exit $agent_rc, $(cat "$work/agent.log")"
fi
[ "$(tcp_ab)" = closed ] && pass "a -> b:80 still closed" || fail "a -> b:80 open after a refused start"
mv "$work/desired.yaml.good" "$STATE/desired.yaml"
start_agent && pass "the state repaired: starts again" || fail "did not start on the repaired state"
stop_agent

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
