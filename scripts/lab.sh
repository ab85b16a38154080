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
if [ "$cluster" = 1 ]; then
  [ "$LAB" = zs-lab ] && LAB=zs-cl
  # shellcheck source=lib/cluster_lab.sh
  source "$root/scripts/lib/cluster_lab.sh"
  [ "$(id -u)" = 0 ] || { echo "lab.sh: run as root (namespaces, BPF)" >&2; exit 1; }
  cmd=${1:-}
  shift || true
  case $cmd in
    up)
      [ -x "$ZEROSEG" ] || { echo "lab.sh: no zeroseg at $ZEROSEG (build first, or set ZEROSEG)" >&2; exit 1; }
      clab_up "$@" || { clab_down; exit 1; }
      clab_status ;;
    down) clab_down ;;
    status) clab_status ;;
    exec) clab_exec "$@" ;;
    zeroseg) clab_zs "$@" ;;
    probe) if clab_probe "$@"; then echo allowed; else echo denied; exit 1; fi ;;
    partition) clab_partition "$@" ;;
    heal) clab_heal "$@" ;;
    stop) clab_agent_kill "$@" ;;
    start) clab_agent_start "$@" ;;
    *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
  esac
  exit
fi
# shellcheck source=lib/lab.sh
source "$root/scripts/lib/lab.sh"

[ "$(id -u)" = 0 ] || { echo "lab.sh: run as root (namespaces, BPF)" >&2; exit 1; }
cmd=${1:-}
shift || true
case $cmd in
  up)
    [ -x "$ZEROSEG" ] || { echo "lab.sh: no zeroseg at $ZEROSEG (build first, or set ZEROSEG)" >&2; exit 1; }
    lab_up "$@" || { lab_down; exit 1; }
    lab_status ;;
  down) lab_down ;;
  status) lab_status ;;
  exec) lab_exec "$@" ;;
  zeroseg) lab_zs "$@" ;;
  probe) if lab_probe "$@"; then echo allowed; else echo denied; exit 1; fi ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
esac
