#!/usr/bin/env bash
# Memory under policy churn: a private agent, two workloads, and a loop that
# applies and deletes one policy (a GitOps loop), relabels a workload every
# 10th cycle (pod churn) and checks real traffic every 100th. The agent's
# VmRSS, fds and threads are read from /proc every 100 cycles; the run fails
# when RSS grows more than the bound between the end of the warm-up and the
# last cycle. bench/RESULTS.md ("Memory under churn") says why the bound.
#
# Usage: churn_soak.sh PATH/TO/zeroseg [--cycles N] [--warmup W]
#                      [--max-growth-kib K] [--traffic-every T] [--burst B] [--fresh-labels]
#   --traffic-every: a TCP connection denied under the policy and one
#   allowed after its delete every T cycles (default 5)
#   --burst B: B new UDP flows at the start of the warm-up (default 3000):
#   they fill the agent's recent-flows buffer to its byte bound, so what
#   grows after the warm-up is not a bounded cache filling up
#   --fresh-labels: every relabel gives the workload a label set never seen
#   before (a new pod-template-hash), so every relabel needs a new identity;
#   without it the workload alternates between two label sets.
# ZS_AGENT_WRAP="heaptrack -o FILE" runs the agent under a tool (the RSS is
# then the tool's too: to find what grows, not to judge the bound).
# Exit 0: bounded; 1: grew more than the bound or a check failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/e2e/lib.sh
source "$here/../tests/e2e/lib.sh"
# shellcheck source=../scripts/lib/topology.sh
source "$here/../scripts/lib/topology.sh"
e2e_require_root

ZS=$(realpath "$1"); shift
cycles=2000 warmup=500 max_growth_kib=1024 traffic_every=5 burst=3000 fresh=0
while [ $# -gt 0 ]; do
  case $1 in
    --cycles) cycles=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --max-growth-kib) max_growth_kib=$2; shift 2 ;;
    --traffic-every) traffic_every=$2; shift 2 ;;
    --burst) burst=$2; shift 2 ;;
    --fresh-labels) fresh=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$warmup" -ge "$cycles" ] || [ $((warmup % 100)) != 0 ]; then
  echo "--warmup must be a multiple of 100 below --cycles" >&2; exit 2
fi

tag=zs-m$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
SOCK=$work/zeroseg.sock PIN=/sys/fs/bpf/$tag STATE=$work/state
agent_pid='' launched_pid=''

find_agent() { pgrep -f "^$ZS agent --socket $SOCK " | head -1; }
cleanup() {
  [ -z "$agent_pid" ] && [ -n "$launched_pid" ] && agent_pid=$(find_agent)
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
  [ -n "$launched_pid" ] && wait "$launched_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "$work"
}
trap cleanup EXIT

zs() { "$ZS" "$@" --socket "$SOCK"; }

topo_up "$tag" || exit 1
ip netns exec "$tag-w" ncat -lk 80 --exec /bin/cat >/dev/null 2>&1 &
# shellcheck disable=SC2086  # the wrapper is words
nsenter --net="/run/netns/$NODE" ${ZS_AGENT_WRAP:-} "$ZS" agent --socket "$SOCK" --bpf-pin-dir "$PIN" \
  --state-dir "$STATE" >"$work/agent.log" 2>&1 &
launched_pid=$!  # nsenter execs: the agent itself, unless wrapped
# BPF loads are slow on a busy machine: up to a minute
for _ in $(seq 600); do [ -S "$SOCK" ] && zs workload list >/dev/null 2>&1 && break; sleep 0.1; done
zs workload list >/dev/null 2>&1 || { echo "agent did not come up:"; cat "$work/agent.log"; exit 1; }
agent_pid=$(find_agent)
[ -n "$agent_pid" ] || { echo "no agent process found"; exit 1; }

workloads() {  # the web workload's extra label: $1
  cat <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: soak, labels: {tier: web, rev: "$1"}}
spec: {interface: $tag-wh, ips: [$TOPO_WEB_IP, "$TOPO_WEB_IP6"]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: client, namespace: soak, labels: {tier: client}}
spec: {interface: $tag-ch, ips: [$TOPO_CLI_IP, "$TOPO_CLI_IP6"]}
YAML
}
# web admits only TCP/81 from the client: with it applied, TCP/80 is denied
cat >"$work/policy.yaml" <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: soak}
spec:
  podSelector: {matchLabels: {tier: web}}
  ingress: [{from: [{podSelector: {matchLabels: {tier: client}}}], ports: [{port: 81}]}]
YAML
workloads r0 >"$work/w.yaml"
zs apply -f "$work/w.yaml" >/dev/null || { echo "apply of the workloads failed"; exit 1; }

# B UDP flows from the client, each from a port of its own
udp_burst() {
  ip netns exec "$tag-c" python3 -c '
import socket, sys
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", (sys.argv[2], 53))
    s.close()
' "$1" "$TOPO_WEB_IP"
}
web80() { ip netns exec "$tag-c" ncat -z -w 1 "$TOPO_WEB_IP" 80; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

echo "churn soak: $cycles cycles, warm-up $warmup, bound $max_growth_kib KiB, traffic every $traffic_every, burst $burst, fresh labels: $fresh"
printf '%7s %10s %5s %8s\n' cycle "RSS KiB" fds threads
rss_warm='' rss_end='' fds_warm='' threads_warm='' cycle_errors=0
[ "$burst" -gt 0 ] && { udp_burst "$burst" || fail "the UDP burst failed"; }
for c in $(seq 1 "$cycles"); do
  zs apply -f "$work/policy.yaml" >/dev/null || cycle_errors=$((cycle_errors + 1))
  if [ $((c % traffic_every)) = 0 ]; then
    web80 >/dev/null 2>&1 && fail "cycle $c: TCP/80 passed under the policy"
  fi
  if [ $((c % 10)) = 0 ]; then
    if [ "$fresh" = 1 ]; then workloads "r$c" >"$work/w.yaml"; else workloads "r$((c / 10 % 2))" >"$work/w.yaml"; fi
    zs apply -f "$work/w.yaml" >/dev/null || cycle_errors=$((cycle_errors + 1))
  fi
  zs delete -f "$work/policy.yaml" >/dev/null || cycle_errors=$((cycle_errors + 1))
  if [ $((c % traffic_every)) = 0 ]; then
    web80 >/dev/null 2>&1 || fail "cycle $c: TCP/80 denied with the policy deleted"
  fi
  if [ $((c % 100)) = 0 ]; then
    kill -0 "$agent_pid" 2>/dev/null || { fail "the agent died at cycle $c"; break; }
    rss=$(status_kib "$agent_pid" VmRSS) threads=$(status_kib "$agent_pid" Threads)
    fds=$(find "/proc/$agent_pid/fd" -mindepth 1 | wc -l)
    printf '%7d %10d %5d %8d\n' "$c" "$rss" "$fds" "$threads"
    if [ "$c" = "$warmup" ]; then rss_warm=$rss fds_warm=$fds threads_warm=$threads; fi
    rss_end=$rss fds_end=$fds threads_end=$threads
  fi
done

[ "$cycle_errors" = 0 ] && pass "every apply and delete succeeded" || fail "$cycle_errors applies or deletes failed"
if [ -n "$rss_warm" ] && [ -n "$rss_end" ]; then
  growth=$((rss_end - rss_warm))
  per_cycle=$(awk -v g="$growth" -v n="$((cycles - warmup))" 'BEGIN {printf "%.2f", g / n}')
  msg="RSS $rss_warm KiB at cycle $warmup, $rss_end KiB at cycle $cycles: $growth KiB ($per_cycle KiB a cycle)"
  if [ "$growth" -le "$max_growth_kib" ]; then pass "$msg, bound $max_growth_kib KiB"; else fail "$msg, over the bound of $max_growth_kib KiB"; fi
  [ "$fds_end" -le "$fds_warm" ] && pass "fds flat ($fds_warm -> $fds_end)" || fail "fds grew: $fds_warm -> $fds_end"
  [ "$threads_end" -le "$threads_warm" ] && pass "threads flat ($threads_warm -> $threads_end)" || fail "threads grew: $threads_warm -> $threads_end"
else
  fail "no RSS figures (the loop stopped early)"
fi

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
