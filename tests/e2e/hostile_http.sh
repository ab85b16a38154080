#!/usr/bin/env bash
# Hostile HTTP against both of the agent's listeners, the API's Unix socket
# and the /metrics TCP port, with the real binary: bad escapes, bad, huge,
# negative and overflowing Content-Lengths, a 1 MiB request line, 20k
# headers, binary garbage, truncated chunked bodies, 300 slow clients.
# After each: the agent is alive, `zeroseg status` and a scrape of /metrics
# work. Then the CLI's names: odd policy names reach the agent as typed.
#
# Usage: hostile_http.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZS=$(realpath "$1")
tag=zs-h$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
SOCK=$work/zeroseg.sock PIN=/sys/fs/bpf/$tag
agent_pid=""
loris_pid=""
py=$here/hostile_http.py

cleanup() {
  [ -n "$loris_pid" ] && kill "$loris_pid" 2>/dev/null && wait "$loris_pid" 2>/dev/null
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  ip netns del "$NODE" 2>/dev/null
  rm -rf "$PIN" "$work"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --socket "$SOCK"; }

# the agent alone in a namespace of its own: nothing to attach, both listeners
ip netns add "$NODE" || exit 1
ip -n "$NODE" link set lo up || exit 1
echo "metrics-listen: 127.0.0.1:0" >"$work/agent.yaml"
# nsenter execs the agent: $! is the agent itself
nsenter --net="/run/netns/$NODE" "$ZS" agent --config "$work/agent.yaml" --socket "$SOCK" --bpf-pin-dir "$PIN" --state-dir "$work/state" \
  >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && zs status --bpf-pin-dir "$PIN" >/dev/null 2>&1 && break; sleep 0.1; done
METRICS=$(grep -o 'http://[^ ]*/metrics' "$work/agent.log" | sed 's|http://||; s|/metrics||')
[ -n "$METRICS" ] || { echo "agent did not come up:"; cat "$work/agent.log"; exit 1; }
echo "agent $agent_pid: api unix:$SOCK, metrics $METRICS"

# still_serving WHAT: the agent lives and both listeners answer a normal request
still_serving() {
  local what=$1 out
  if ! kill -0 "$agent_pid" 2>/dev/null; then
    fail "$what: the agent died"; tail -5 "$work/agent.log"; exit 1
  fi
  if out=$(timeout 60 "$ZS" status --socket "$SOCK" --bpf-pin-dir "$PIN" 2>&1) && [[ $out == *"agent: pid $agent_pid"* ]]; then
    :
  else
    fail "$what: zeroseg status failed: $(echo "$out" | head -2)"; return
  fi
  if out=$(in_node timeout 60 python3 "$py" get "$METRICS" /metrics); then
    pass "$what: agent alive, status and /metrics answer"
  else
    fail "$what: /metrics scrape: $out"
  fi
}

still_serving "before anything"

for listener in "unix:$SOCK" "$METRICS"; do
  name=api; [[ $listener == unix:* ]] || name=metrics
  for c in $(python3 "$py" attack "$listener" list); do
    out=$(in_node timeout 120 python3 "$py" attack "$listener" "$c" 2>&1); rc=$?
    if [ $rc = 0 ]; then pass "$name $c: ${out:-?}"; else fail "$name $c: answered ${out:-nothing} (rc $rc)"; fi
    still_serving "$name after $c"
  done

  # 300 slow clients (reopened when closed) while a normal client must
  # still be served: they wait without a thread, 256 at most (the oldest
  # answered 503 past that, each 408 at its deadline)
  nsenter --net="/run/netns/$NODE" python3 "$py" slowloris "$listener" 300 >"$work/loris.$name.log" 2>&1 &
  loris_pid=$!
  # the slow clients are held, not refused: most of the 300 stay open
  # (as the client counts them: its connections not closed; with a thread
  # each, 20 or so did)
  held=0
  for _ in $(seq 30); do
    sleep 1
    open=$(grep -o '^slowloris: [0-9]* open' "$work/loris.$name.log" | tail -1 | grep -o '[0-9]*' || true)
    if [ "${open:-0}" -ge 250 ]; then held=1; break; fi
  done
  if [ $held = 1 ]; then pass "$name: 250 or more slow clients held open at once"
  else fail "$name: slow clients not held open ($(tail -1 "$work/loris.$name.log"))"; fi
  served=0
  # generous (a loaded machine): slow clients take no thread, so the first
  # try should do. `status` exits 0 only when the agent answered (2 when it
  # did not), so this asks for a real answer, not a 503.
  for _ in $(seq 120); do
    if [ $name = api ]; then
      timeout 30 "$ZS" status --socket "$SOCK" --bpf-pin-dir "$PIN" >/dev/null 2>&1 && served=1 && break
    else
      in_node timeout 30 python3 "$py" get "$METRICS" /metrics >/dev/null 2>&1 && served=1 && break
    fi
    sleep 1
  done
  if [ $served = 1 ]; then pass "$name: a normal client is served under 300 slow clients"
  else fail "$name: no normal answer in 2 minutes under 300 slow clients ($(tail -1 "$work/loris.$name.log"))"; fi
  opened=$(grep -o '[0-9]* open,.*' "$work/loris.$name.log" | tail -1)
  echo "  (slowloris: ${opened:-?})"
  kill "$loris_pid"; wait "$loris_pid" 2>/dev/null; loris_pid=
  still_serving "$name after 300 slow clients"
done

# --- the CLI's names: sent encoded, they reach the agent as typed ----------
cat >"$work/p.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web.v1, namespace: shop}
spec: {podSelector: {matchLabels: {tier: web}}, ingress: [{}]}
YAML
expect_ok "apply a policy" zs apply -f "$work/p.yaml"
out=$(zs policy get NetworkPolicy/shop/web.v1 2>&1)
if [[ $out == "# NetworkPolicy/shop/web.v1"* ]]; then pass "policy get of a plain name"; else fail "policy get: $out"; fi
for name in '100%ok' 'a b' 'a+b' 'x?ref=NetworkPolicy/shop/web.v1' 'web.v1#frag' 'a&ref=web.v1' 'ü/ß' '%zz' '%2F'; do
  out=$(zs policy get "$name" 2>&1); rc=$?
  if [ $rc != 0 ] && [ "$out" = "zeroseg: error: no policy $name" ]; then pass "policy get '$name': not found, by its own name"
  else fail "policy get '$name' (rc $rc): $out"; fi
done
out=$(zs policy suggest --since 1h --namespace 'a&since=x' 2>&1); rc=$?
if [ $rc = 0 ]; then pass "policy suggest --namespace with '&' is one value"; else fail "policy suggest: $out"; fi
still_serving "after the CLI's names"

kill "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=
cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
[ "$E2E_CHECKS" -gt 0 ] || { echo "no checks ran"; exit 1; }
e2e_summary
