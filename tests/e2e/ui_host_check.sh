#!/usr/bin/env bash
# The live map's Host check (DNS rebinding) with the real agent, for every
# spelling of a loopback --ui-listen: a page elsewhere whose DNS name points
# at the loopback sends its own name as Host and must get 403; localhost
# gets the map. A bind to all addresses has no check (a name is all it has).
# The agent once decided "loopback" from the text (127. or [::1]:), so
# [0:0:0:0:0:0:0:1]:PORT and [::ffff:127.0.0.1]:PORT served any Host.
#
# Usage: ui_host_check.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
command -v curl >/dev/null || e2e_skip "needs curl"

ZS=$(realpath "$1")
tag=zs-u$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
PIN=/sys/fs/bpf/$tag
agent_pid=""

stop_agent() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  agent_pid=""
}
cleanup() {
  stop_agent
  ip netns del "$NODE" 2>/dev/null
  rm -rf "$PIN" "$work"
}
trap cleanup EXIT

ip netns add "$NODE" || exit 1
ip -n "$NODE" link set lo up || exit 1

# status_for LISTEN URL HOST: the map's answer to GET URL with Host HOST
status_for() {
  nsenter --net="/run/netns/$NODE" curl -s -o /dev/null -w '%{http_code}' -H "Host: $3" "$2"
}

# LISTEN, the URL to reach it, the status an alien Host gets
while read -r listen url alien; do
  echo "ui-listen: '$listen'" >"$work/agent.yaml"
  # nsenter execs the agent: $! is the agent itself
  nsenter --net="/run/netns/$NODE" "$ZS" agent --config "$work/agent.yaml" --socket "$work/zeroseg.sock" \
    --bpf-pin-dir "$PIN" --state-dir "$work/state" >"$work/agent.log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 100); do grep -q "the live map on" "$work/agent.log" && break; sleep 0.1; done
  if ! grep -q "the live map on" "$work/agent.log"; then
    fail "$listen: the agent did not serve the map: $(tail -3 "$work/agent.log")"
    stop_agent
    continue
  fi
  expect_eq "$listen: Host evil.example" "$(status_for "$listen" "$url" evil.example)" "$alien"
  expect_eq "$listen: Host evil.example:80" "$(status_for "$listen" "$url" evil.example:80)" "$alien"
  expect_eq "$listen: Host localhost" "$(status_for "$listen" "$url" localhost)" 200
  stop_agent
done <<'EOF'
127.0.0.1:9100 http://127.0.0.1:9100/api/graph 403
[::1]:9101 http://[::1]:9101/api/graph 403
[0:0:0:0:0:0:0:1]:9102 http://[::1]:9102/api/graph 403
[::ffff:127.0.0.1]:9103 http://127.0.0.1:9103/api/graph 403
[::]:9104 http://127.0.0.1:9104/api/graph 200
EOF

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
