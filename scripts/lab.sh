#!/usr/bin/env bash
# The namespace lab on one machine (see scripts/lib/lab.sh for its layout).
#
#   scripts/lab.sh up [--name zs-lab] [--no-agent]    namespaces, services, the agent, the Workloads
#   scripts/lab.sh down [--name zs-lab]               removes exactly what up made
#   scripts/lab.sh status [--name zs-lab]
#   scripts/lab.sh exec WORKLOAD CMD...               e.g. exec guest/attacker nmap -sT 10.77.1-3.2
#   scripts/lab.sh zeroseg ARGS...                    the CLI against the lab's agent, e.g. zeroseg flows -f
#   scripts/lab.sh probe SRC DST tcp|udp|icmp|http [PORT] [4|6]
#
# With --cluster, the three-node lab instead (scripts/lib/cluster_lab.sh: a
# routed underlay, etcd, an agent per node in cluster mode, two workloads behind
# each node; default name zs-cl):
#   scripts/lab.sh --cluster up|down|status [--name zs-cl] [--no-agent]
#   scripts/lab.sh --cluster zeroseg NODE ARGS...    e.g. zeroseg 2 cluster status
#   scripts/lab.sh --cluster exec|probe ...          as above (probe: tcp|http)
#   scripts/lab.sh --cluster partition|heal NODE     drop NODE's traffic to etcd / let it through
#   scripts/lab.sh --cluster stop NODE [KILL]|start NODE   its agent (KILL: as a crash; pins stay)
#   scripts/lab.sh --cluster compact                 etcd compacted to its newest revision, defragmented
#
# Several labs can run at once under different names (zs-NAME, at most 11
# characters). ZEROSEG names the binary (default: build/userspace/zeroseg).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ZEROSEG=${ZEROSEG:-$root/build/userspace/zeroseg}
# shellcheck disable=SC2034  # LAB and ZEROSEG are read by lib/lab.sh
LAB=zs-lab
cluster=0
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --name) LAB=$2; shift 2 ;;  # read by lib/lab.sh
    --cluster) cluster=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]}"
# one dispatch for both labs: the words call lab_* (lib/lab.sh) or, with
# --cluster, clab_* (lib/cluster_lab.sh, which adds the failure words)
if [ "$cluster" = 1 ]; then
  [ "$LAB" = zs-lab ] && LAB=zs-cl
  # shellcheck source=lib/cluster_lab.sh
  source "$root/scripts/lib/cluster_lab.sh"
  fn=clab
else
  # shellcheck source=lib/lab.sh
  source "$root/scripts/lib/lab.sh"
  fn=lab
fi

[ "$(id -u)" = 0 ] || { echo "lab.sh: run as root (namespaces, BPF)" >&2; exit 1; }
cmd=${1:-}
shift || true
case $cluster:$cmd in
  *:up)
    [ -x "$ZEROSEG" ] || { echo "lab.sh: no zeroseg at $ZEROSEG (build first, or set ZEROSEG)" >&2; exit 1; }
    "${fn}_up" "$@" || { "${fn}_down"; exit 1; }
    "${fn}_status" ;;
  *:down) "${fn}_down" ;;
  *:status) "${fn}_status" ;;
  *:exec) "${fn}_exec" "$@" ;;
  *:zeroseg) "${fn}_zs" "$@" ;;
  *:probe) if "${fn}_probe" "$@"; then echo allowed; else echo denied; exit 1; fi ;;
  1:partition) clab_partition "$@" ;;
  1:heal) clab_heal "$@" ;;
  1:stop) clab_agent_kill "$@" ;;
  1:start) clab_agent_start "$@" ;;
  1:compact) clab_compact ;;
  *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
esac
