#!/usr/bin/env bash
# Two races of the VM lab's own upkeep (scripts/vagrant-lab.sh,
# scripts/lib/libvirt.sh), driven without VMs:
#   the reaper: after its cycle ends it takes down the lab that cycle made,
#     and never a lab someone started in the second before it looked
#     (a state directory whose owner is not that cycle);
#   ip_forward: restored to what the lab found only while it still holds
#     the value libvirt set; a value another test set meanwhile is left.
# The lab's state, lock and tag are this test's own; the sysctl is that of
# a network namespace of its own (unshare -n), never the host's.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
command -v unshare >/dev/null || e2e_skip "unshare missing"

tag=zs-r$(($$ % 100000))
work=$(mktemp -d "/var/tmp/$tag.XXXXXX")
sleeper=''
cleanup() {
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export ZEROSEG_VAGRANT_STATE="$work/state" ZEROSEG_VAGRANT_LOCK="$work/lock"

# a fake lab: the state directory `up` writes (no domain, network or daemon
# behind it: `down` of it only removes the directory)
fake_lab() {
  mkdir -p "$ZEROSEG_VAGRANT_STATE"
  echo "$1" >"$ZEROSEG_VAGRANT_STATE/owner"
  echo "$tag" >"$ZEROSEG_VAGRANT_STATE/tag"
  # what lv_snapshot keeps: libvirt's cgroups already there (a real VM lab
  # running beside this test) are not this fake lab's to leave behind
  ls -d /sys/fs/cgroup/*/machine /sys/fs/cgroup/machine 2>/dev/null >"$ZEROSEG_VAGRANT_STATE/cgroups" || true
}

# reaper_after OWNER: a cycle (a sleep) whose reaper runs, the cycle ends,
# and in the second before the reaper looks a lab owned by OWNER appears
# ("cycle PID": the dead cycle's own); prints whether the lab survived
reaper_after() {
  local owner=$1 reaper
  sleep 30 &
  sleeper=$!
  bash "$root/scripts/vagrant-lab.sh" reaper "$sleeper" >"$work/reaper.log" 2>&1 &
  reaper=$!
  sleep 0.3
  kill "$sleeper"
  wait "$sleeper" 2>/dev/null
  fake_lab "${owner//PID/$sleeper}"
  sleeper=''
  # (with a libvirtd running, `down` asks vagrant too: seconds under load)
  for _ in $(seq 600); do kill -0 "$reaper" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$reaper" 2>/dev/null; then
    kill "$reaper"
    echo "reaper still running"
  elif [ -f "$ZEROSEG_VAGRANT_STATE/tag" ]; then echo "lab left up"
  else echo "lab taken down"; fi
  rm -rf "$ZEROSEG_VAGRANT_STATE"
}

echo "== the reaper takes down its own cycle's lab, and no other"
expect_eq "a lab the dead cycle made is taken down" "$(reaper_after "cycle PID")" "lab taken down"
got=$(reaper_after "up 12345")
expect_eq "a lab a user's up made right after the cycle ended is left up" "$got" "lab left up"
expect_contains "and the reaper says why" "$(cat "$work/reaper.log")" "not its own: left up"
got=$(reaper_after "cycle 1")
expect_eq "a lab of another cycle is left up" "$got" "lab left up"

echo "== ip_forward: put back only while it is still libvirt's"
# forward SAVED LIBVIRT NOW: in a namespace of its own, lv_snapshot found
# SAVED, libvirt set LIBVIRT, the value is NOW at `down`; prints the value
# after lv_restore_host, then what lv_leftovers says of it
forward() {
  mkdir -p "$work/lv"
  rm -f "$work/lv"/*
  unshare -n bash -c '
    source "$1/scripts/lib/libvirt.sh"
    export LV_STATE=$2
    lv_running() { return 1; }
    sysctl -qw net.ipv4.ip_forward="$3"; lv_snapshot
    sysctl -qw net.ipv4.ip_forward="$4"; lv_note_forward
    sysctl -qw net.ipv4.ip_forward="$5"
    lv_restore_host >/dev/null
    echo "$(sysctl -n net.ipv4.ip_forward) $(lv_leftovers zs-none | grep -c "^sysctl")"' _ \
    "$root" "$work/lv" "$1" "$2" "$3"
}
expect_eq "libvirt turned it on, still on: put back to off, nothing left" "$(forward 0 1 1)" "0 0"
expect_eq "another test turned it off meanwhile: left off, not called left behind" "$(forward 1 1 0)" "0 0"
expect_eq "off before, libvirt's on turned off by another: left off" "$(forward 0 1 0)" "0 0"
expect_eq "on before and after: left on" "$(forward 1 1 1)" "1 0"

e2e_nothing_left "$tag" "/sys/fs/bpf/$tag"
e2e_summary
