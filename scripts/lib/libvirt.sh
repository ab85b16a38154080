# libvirt for the VM lab on a machine where no init system runs it (a
# container, these CI machines), and the exact undoing of what it changes:
# the daemons started by hand and stopped by their PIDs, the lab's networks
# and storage pool made and removed by name, the LIBVIRT_* iptables chains
# and net.ipv4.ip_forward put back as they were (ip_forward only while it
# still holds the value libvirt set).
#
# The daemons are started with fd 9 closed: scripts/vagrant-lab.sh holds
# its one-lab-at-a-time lock there, and a daemon must not keep it.
#
# Every function takes the lab's state directory (LV_STATE) from the
# caller: what was there before is written there, so a later `down` undoes
# exactly what `up` did, even from another shell.
# shellcheck shell=bash

LV_URI=qemu:///system

lv_virsh() { virsh -q -c "$LV_URI" "$@"; }

lv_running() { virsh -q -c "$LV_URI" uri >/dev/null 2>&1; }

# lv_snapshot: what libvirt may change, as it is now (once per lab)
lv_snapshot() {
  [ -f "$LV_STATE/ip_forward" ] && return 0
  sysctl -n net.ipv4.ip_forward >"$LV_STATE/ip_forward"
  local fam
  for fam in iptables ip6tables; do
    { "$fam-save" 2>/dev/null || true; } | sed -n 's/^:\(LIBVIRT_[A-Z]*\) .*/\1/p' | sort -u >"$LV_STATE/$fam.chains"
  done
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort >"$LV_STATE/links"
  # libvirt's cgroup of guests (cgroup v1: one per controller)
  ls -d /sys/fs/cgroup/*/machine 2>/dev/null >"$LV_STATE/cgroups" || true
}

# lv_new_cgroups: libvirt's /machine cgroups that were not there before
lv_new_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/machine /sys/fs/cgroup/machine; do
    [ -d "$d" ] && ! grep -qx "$d" "$LV_STATE/cgroups" 2>/dev/null && echo "$d"
  done
  return 0
}

# lv_start: libvirtd (and virtlogd, which qemu's logs go through) unless
# something already runs them; the PIDs of what we started are kept
lv_start() {
  lv_snapshot
  if lv_running; then
    echo "libvirt: libvirtd already runs (not ours to stop)"
    return 0
  fi
  if ! pgrep -x virtlogd >/dev/null; then
    virtlogd -d -p "$LV_STATE/virtlogd.pid" 9>&-
  fi
  if [ "${LV_QEMU_AS_ROOT:-0}" = 1 ]; then
    # KVM is broken here and /dev/kvm is root's alone: libvirt probes qemu
    # as root (KVM found), then checks /dev/kvm as its qemu user (not
    # usable), calls the cached capabilities stale and probes again on every
    # call (~20 s each under load: `vagrant up` never starts a domain). Its
    # guests run as root instead, by a qemu.conf seen by this libvirtd
    # alone (a mount namespace of its own; the host's file is untouched).
    # Not in a cpu cgroup either: libvirt's /machine group weighs as much as
    # one process, and on a machine busy with 40 others the three guests
    # got ~5 s of CPU a minute between them (each guest thread a process).
    { cat /etc/libvirt/qemu.conf
      printf 'user = "root"\ngroup = "root"\n'
      printf 'cgroup_controllers = [ "devices", "memory", "blkio" ]\n'; } >"$LV_STATE/qemu.conf"
    unshare --mount --propagation private -- sh -c \
      'mount --bind "$1/qemu.conf" /etc/libvirt/qemu.conf && exec libvirtd -d -p "$1/libvirtd.pid"' _ "$LV_STATE" 9>&-
  else
    libvirtd -d -p "$LV_STATE/libvirtd.pid" 9>&-
  fi
  for _ in $(seq 100); do
    lv_running && break
    sleep 0.2
  done
  lv_running || { echo "libvirt: libvirtd did not answer on $LV_URI" >&2; return 1; }
  lv_note_forward
  echo "libvirt: started libvirtd $(cat "$LV_STATE/libvirtd.pid")" \
    "$([ -f "$LV_STATE/virtlogd.pid" ] && echo "and virtlogd $(cat "$LV_STATE/virtlogd.pid")")"
}

# lv_note_forward: net.ipv4.ip_forward as libvirt left it (a NAT network
# turns it on when it starts): what lv_restore_host may undo, and only
# while it still holds. A test running beside the lab may set it meanwhile
# (its own save and restore): then the value is that test's, not libvirt's.
lv_note_forward() { sysctl -n net.ipv4.ip_forward >"$LV_STATE/ip_forward.libvirt"; }

# lv_forward_ours: ip_forward is still what libvirt set, and not what
# lv_snapshot found (so restoring it is this lab's to do)
lv_forward_ours() {
  local now
  [ -f "$LV_STATE/ip_forward" ] && [ -f "$LV_STATE/ip_forward.libvirt" ] || return 1
  now=$(sysctl -n net.ipv4.ip_forward)
  [ "$now" = "$(cat "$LV_STATE/ip_forward.libvirt")" ] && [ "$now" != "$(cat "$LV_STATE/ip_forward")" ]
}

# lv_net_define NAME BRIDGE ADDRESS/24 nat|isolated
lv_net_define() {
  local name=$1 bridge=$2 cidr=$3 mode=$4 addr net forward="" dhcp="" dns="<dns enable='no'/>"
  addr=${cidr%/*}
  net=${addr%.*}
  if [ "$mode" = nat ]; then
    forward="<forward mode='nat'/>"
    dhcp="<dhcp><range start='$net.100' end='$net.199'/></dhcp>"
    dns=""
  fi
  cat >"$LV_STATE/net-$name.xml" <<EOF
<network>
  <name>$name</name>
  $forward
  <bridge name='$bridge' stp='off' delay='0'/>
  $dns
  <ip address='$addr' netmask='255.255.255.0'>$dhcp</ip>
</network>
EOF
  lv_virsh net-define "$LV_STATE/net-$name.xml" >/dev/null
  echo "$name" >>"$LV_STATE/networks"
  lv_virsh net-start "$name" >/dev/null
  lv_note_forward
}

# lv_pool_define NAME DIR: a storage pool of the lab's own, so its
# volumes (the box's base image, each VM's disk) go with it
lv_pool_define() {
  local name=$1 dir=$2
  lv_virsh pool-define-as "$name" dir --target "$dir" >/dev/null
  echo "$name" >>"$LV_STATE/pools"
  lv_virsh pool-build "$name" >/dev/null
  lv_virsh pool-start "$name" >/dev/null
}

# lv_remove_domains PREFIX: every domain named PREFIX*, with its storage
lv_remove_domains() {
  local d
  for d in $(lv_virsh list --all --name 2>/dev/null | grep "^$1" || true); do
    lv_virsh destroy "$d" >/dev/null 2>&1 || true
    lv_virsh undefine "$d" --remove-all-storage >/dev/null 2>&1 ||
      lv_virsh undefine "$d" >/dev/null 2>&1 || true
    echo "libvirt: removed domain $d"
  done
}

# lv_remove_ours: the pools and networks this lab defined, by name
lv_remove_ours() {
  local p n v
  if [ -f "$LV_STATE/pools" ]; then
    while read -r p; do
      for v in $(lv_virsh vol-list "$p" 2>/dev/null | awk '{print $1}'); do
        lv_virsh vol-delete "$v" --pool "$p" >/dev/null 2>&1 || true
      done
      lv_virsh pool-destroy "$p" >/dev/null 2>&1 || true
      lv_virsh pool-delete "$p" >/dev/null 2>&1 || true
      lv_virsh pool-undefine "$p" >/dev/null 2>&1 || true
    done <"$LV_STATE/pools"
    rm -f "$LV_STATE/pools"
  fi
  if [ -f "$LV_STATE/networks" ]; then
    while read -r n; do
      lv_virsh net-destroy "$n" >/dev/null 2>&1 || true
      lv_virsh net-undefine "$n" >/dev/null 2>&1 || true
    done <"$LV_STATE/networks"
    rm -f "$LV_STATE/networks"
  fi
}

# lv_kill_pidfile FILE NAME: stop a daemon we started, by its PID
lv_kill_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "libvirt: stopped $2 $pid"
  fi
  rm -f "$f"
}

# lv_stop: networks libvirt started by itself (an autostarted "default")
# whose bridges were not there before, then the daemons we started
lv_stop() {
  [ -f "$LV_STATE/libvirtd.pid" ] || return 0
  local n br
  for n in $(lv_virsh net-list --name 2>/dev/null); do
    br=$(lv_virsh net-info "$n" 2>/dev/null | awk '/^Bridge:/ {print $2}')
    if [ -n "$br" ] && ! grep -qx "$br" "$LV_STATE/links"; then
      lv_virsh net-destroy "$n" >/dev/null 2>&1 && echo "libvirt: stopped network $n (autostarted)"
    fi
  done
  lv_kill_pidfile "$LV_STATE/libvirtd.pid" libvirtd
  lv_kill_pidfile "$LV_STATE/virtlogd.pid" virtlogd
  local d
  for d in $(lv_new_cgroups); do
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# lv_restore_host: the LIBVIRT_* chains that were not there before (and
# the jumps to them), and ip_forward, as lv_snapshot found them
lv_restore_host() {
  local fam table chain rule
  for fam in iptables ip6tables; do
    [ -f "$LV_STATE/$fam.chains" ] || continue
    for table in filter nat mangle; do
      "$fam" -t "$table" -S >/dev/null 2>&1 || continue
      # the jumps first: a chain still referenced cannot be deleted
      "$fam" -t "$table" -S | grep -E '^-A [A-Z]+ .*-j LIBVIRT_' | grep -vE '^-A LIBVIRT_' |
        while read -r rule; do
          chain=$(sed -E 's/.*-j (LIBVIRT_[A-Z]+).*/\1/' <<<"$rule")
          grep -qx "$chain" "$LV_STATE/$fam.chains" && continue
          # shellcheck disable=SC2086
          "$fam" -t "$table" ${rule/-A/-D} || true
        done
      for chain in $("$fam" -t "$table" -S | sed -n 's/^-N \(LIBVIRT_[A-Z]*\)$/\1/p'); do
        grep -qx "$chain" "$LV_STATE/$fam.chains" && continue
        "$fam" -t "$table" -F "$chain" && "$fam" -t "$table" -X "$chain"
      done
    done
  done
  if lv_forward_ours; then
    sysctl -qw net.ipv4.ip_forward="$(cat "$LV_STATE/ip_forward")"
  elif [ -f "$LV_STATE/ip_forward.libvirt" ] &&
    [ "$(sysctl -n net.ipv4.ip_forward)" != "$(cat "$LV_STATE/ip_forward.libvirt")" ]; then
    echo "libvirt: net.ipv4.ip_forward is $(sysctl -n net.ipv4.ip_forward), not the" \
      "$(cat "$LV_STATE/ip_forward.libvirt") libvirt left: set by someone else since, left as it is"
  fi
}

# lv_leftovers PREFIX: what of the lab is still there (empty: nothing)
lv_leftovers() {
  local prefix=$1 fam table
  if lv_running; then
    lv_virsh list --all --name | grep "^$prefix" | sed 's/^/domain /' || true
    lv_virsh net-list --all --name | grep "^$prefix" | sed 's/^/network /' || true
    lv_virsh pool-list --all --name | grep "^$prefix" | sed 's/^/pool /' || true
  fi
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^$prefix" | sed 's/^/link /' || true
  pgrep -af -- "$prefix" | grep -v -e pgrep -e vagrant-lab.sh | sed 's/^/process /' || true
  lv_new_cgroups | sed 's/^/cgroup /'
  for f in libvirtd virtlogd; do
    [ -f "$LV_STATE/$f.pid" ] && kill -0 "$(cat "$LV_STATE/$f.pid")" 2>/dev/null && echo "process $f"
  done
  if lv_forward_ours; then
    echo "sysctl net.ipv4.ip_forward=$(sysctl -n net.ipv4.ip_forward), was $(cat "$LV_STATE/ip_forward")"
  fi
  for fam in iptables ip6tables; do
    [ -f "$LV_STATE/$fam.chains" ] || continue
    for table in filter nat mangle; do
      "$fam" -t "$table" -S 2>/dev/null | sed -n 's/^-N \(LIBVIRT_[A-Z]*\)$/\1/p' | while read -r c; do
        grep -qx "$c" "$LV_STATE/$fam.chains" || echo "$fam chain $table/$c"
      done
    done
  done
}
