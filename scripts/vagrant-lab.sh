#!/usr/bin/env bash
# The VM lab (vagrant/) on this machine, with libvirt under TCG: the box
# built locally (scripts/vagrant-box.sh), libvirtd started by hand when no
# init runs it, the lab's own libvirt networks, storage pool and Vagrant
# home, and everything undone afterwards.
#
#   scripts/vagrant-lab.sh stage ZEROSEG [DIR]  only gather what the VMs install into build/vagrant-stage
#                                          (for `vagrant up` by hand, vagrant/README.md; DIR: elsewhere)
#   scripts/vagrant-lab.sh up ZEROSEG      box, libvirt, networks, `vagrant up` (ZEROSEG: the binary
#                                          of a build; the nodes install that build's .deb, made
#                                          with cpack, or ZEROSEG_VAGRANT_DEB=PATH.deb;
#                                          ZEROSEG_VAGRANT_INSTALL=binary: the binary and unit
#                                          copied in instead)
#   scripts/vagrant-lab.sh checks          vagrant/run-checks.sh against the running lab
#   scripts/vagrant-lab.sh ssh VM [CMD]    a shell in one VM
#   scripts/vagrant-lab.sh down            destroy and remove all the lab made; restore the host
#   scripts/vagrant-lab.sh cycle ZEROSEG   up, checks, the checks' own test, down: the ctest
#                                          (exit 0 only if all held and nothing is left behind)
#
# The nodes run in cluster mode (etcd on node1 behind mutual TLS, both agents
# with `cluster: etcd://192.168.77.11:2379` and their certificates); ZEROSEG_VAGRANT_CLUSTER=0: each
# standalone, with every object applied on each.
#
# One lab at a time (a lock); its state is in ZEROSEG_VAGRANT_STATE
# (default /var/tmp/zs-vagrant-lab). On a machine with KVM use vagrant/
# directly (vagrant/README.md); ZEROSEG_VAGRANT_DRIVER=kvm here makes this
# script do the same with the local box.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
STATE=${ZEROSEG_VAGRANT_STATE:-/var/tmp/zs-vagrant-lab}
LOCK=${ZEROSEG_VAGRANT_LOCK:-/run/lock/zs-vagrant-lab.lock} # (a test's own: tests/e2e/vm_lab_races.sh)
# shellcheck source=lib/libvirt.sh
source "$here/lib/libvirt.sh"

MGMT_CIDR=${ZEROSEG_VAGRANT_MGMT_CIDR:-192.168.121.1/24}
UNDERLAY_CIDR=192.168.77.1/24 # vagrant/provision/topology.sh's addresses

die() { echo "vagrant-lab: $*" >&2; exit 1; }
stamp() { echo "vagrant-lab: [$(date -u +%T)] $*"; }

# the environment vagrant/Vagrantfile reads, from the lab's state
lab_env() {
  local tag
  tag=$(cat "$STATE/tag")
  export LV_STATE="$STATE"
  export VAGRANT_HOME="$STATE/vagrant.d" VAGRANT_DOTFILE_PATH="$STATE/dot"
  export VAGRANT_DEFAULT_PROVIDER=libvirt VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1
  export ZEROSEG_VAGRANT_DRIVER=${ZEROSEG_VAGRANT_DRIVER:-qemu}
  export ZEROSEG_VAGRANT_BOX=zeroseg-local/bookworm
  export ZEROSEG_VAGRANT_STAGE="$STATE/stage"
  export ZEROSEG_VAGRANT_PREFIX="$tag-" ZEROSEG_VAGRANT_POOL="$tag"
  export ZEROSEG_VAGRANT_MGMT_NET="$tag-mgmt" ZEROSEG_VAGRANT_MGMT_CIDR="${MGMT_CIDR%.*}.0/24"
  export ZEROSEG_VAGRANT_UNDERLAY_NET="$tag-underlay"
  export ZEROSEG_VAGRANT_CONSOLE_DIR="$STATE/console"
  export ZEROSEG_VAGRANT_SSH_CONFIG="$STATE/ssh_config"
  TAG=$tag
}

# deb_of ZEROSEG DIR: the .deb of the build ZEROSEG belongs to, made with
# cpack (as tests/e2e/service_deb.sh makes it) into DIR; prints its path
deb_of() {
  local bin=$1 out=$2 build version deb
  build=$(dirname "$bin")
  while [ "$build" != / ] && [ ! -f "$build/CPackConfig.cmake" ]; do build=$(dirname "$build"); done
  [ -f "$build/CPackConfig.cmake" ] ||
    die "no build directory with CPackConfig.cmake above $bin (ZEROSEG_VAGRANT_DEB=PATH.deb, or ZEROSEG_VAGRANT_INSTALL=binary)"
  # (the man pages and completions are in the package; the binary is built)
  cmake --build "$build" --target zeroseg man_pages completions -j2 >"$out.build.log" 2>&1 ||
    die "building the package's parts failed: $(tail -5 "$out.build.log")"
  rm -rf "$out" && mkdir -p "$out"
  (cd "$out" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out") >"$out.log" 2>&1 ||
    die "cpack failed: $(tail -10 "$out.log")"
  version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
  deb="$out/zeroseg_${version}_$(dpkg --print-architecture).deb"
  [ -s "$deb" ] || die "cpack made no $deb: $(tail -5 "$out.log")"
  rm -f "$out.build.log" "$out.log"
  echo "$deb"
}

# stage ZEROSEG [DIR]: what the VMs install, in one directory (one copy per VM)
stage() {
  local bin=$1 s=${2:-$STATE/stage} deb
  rm -rf "$s"
  mkdir -p "$s"
  case "${ZEROSEG_VAGRANT_INSTALL:-deb}" in
    deb)
      # the package the build makes: apt installs it in the nodes, its
      # postinst enables its unit
      deb=${ZEROSEG_VAGRANT_DEB:-}
      [ -n "$deb" ] || deb=$(deb_of "$bin" "$s.pkg")
      [ -f "$deb" ] || die "no .deb at '$deb'"
      cp "$deb" "$s/"
      rm -rf "$s.pkg" ;;
    binary)
      [ -x "$bin" ] || die "no zeroseg binary at '$bin'"
      # without its debug info: a tenth of the size to copy into each VM
      strip --strip-debug -o "$s/zeroseg" "$bin"
      cp "$root/deploy/zeroseg.service" "$root/deploy/agent.yaml" "$s/" ;;
    *) die "ZEROSEG_VAGRANT_INSTALL=${ZEROSEG_VAGRANT_INSTALL}: deb or binary" ;;
  esac
  # cluster mode: the etcd the agents join (node1 runs it: provision/node.sh),
  # behind mutual TLS: each node's certificates beside the stage, in
  # $s-tls/NODE, which only that node gets (the Vagrantfile)
  rm -rf "$s-tls"
  if [ "${ZEROSEG_VAGRANT_CLUSTER:-1}" != 0 ]; then
    echo "etcd://192.168.77.11:2379" >"$s/cluster"
    command -v openssl >/dev/null || die "cluster mode needs openssl (etcd's certificates)"
    ( source "$root/vagrant/provision/topology.sh" && vm_tls_make "$s-tls" ) || die "could not make etcd's certificates"
  fi
  cp "$root/vagrant/provision/topology.sh" "$root/policies/three-tier.yaml" \
    "$root/scripts/lib/lab_services.py" "$s/"
  # one compressed file to copy into each VM (provision/common.sh unpacks it)
  tar -C "$s" -czf "$s.tar.gz" .
  rm -rf "${s:?}"/*
  mv "$s.tar.gz" "$s/stage.tar.gz"
}

# box_add BOX: what `vagrant box add` and vagrant-libvirt's first `up`
# would do (unpack 430 MiB into the Vagrant home, then upload it into the
# pool: ~2 min under load), as hard links to the box unpacked once next to
# the cache: the Vagrant home's box, and the pool's base volume under the
# name vagrant-libvirt looks for (HandleBoxImage.get_volume_name: the
# version "0" and the image's mtime), so vagrant finds it there already.
# The guests only read it (each writes its own overlay).
box_add() {
  local box=$1 unpacked vol bdir f
  unpacked="$(dirname "$box")/unpacked"
  if [ ! -f "$unpacked/box.img" ]; then
    rm -rf "$unpacked.tmp"
    mkdir -p "$unpacked.tmp"
    tar -C "$unpacked.tmp" -xf "$box"
    mv "$unpacked.tmp" "$unpacked"
  fi
  bdir="$VAGRANT_HOME/boxes/${ZEROSEG_VAGRANT_BOX//\//-VAGRANTSLASH-}/0/libvirt"
  mkdir -p "$bdir"
  for f in box.img metadata.json Vagrantfile; do
    ln -f "$unpacked/$f" "$bdir/$f" 2>/dev/null || cp "$unpacked/$f" "$bdir/$f"
  done
  vol="${ZEROSEG_VAGRANT_BOX//\//-VAGRANTSLASH-}_vagrant_box_image_0_$(stat -c %Y "$bdir/box.img")_box.img"
  ln -f "$bdir/box.img" "/var/lib/libvirt/images/$TAG/$vol" 2>/dev/null ||
    cp "$bdir/box.img" "/var/lib/libvirt/images/$TAG/$vol"
  lv_virsh pool-refresh "$TAG" >/dev/null
}

in_vagrant() { (cd "$root/vagrant" && vagrant "$@"); }

up() {
  local bin=${1:?usage: vagrant-lab.sh up ZEROSEG} box t
  bin=$(realpath "$bin")
  [ ! -e "$STATE/tag" ] || die "a lab is up already ($STATE; vagrant-lab.sh down first)"
  for t in vagrant virsh libvirtd qemu-system-x86_64; do
    command -v "$t" >/dev/null || die "$t is missing (scripts/install-deps.sh)"
  done
  vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt || die "the vagrant-libvirt plugin is missing (scripts/install-deps.sh)"
  for t in "${MGMT_CIDR%.*}." "${UNDERLAY_CIDR%.*}."; do
    ! ip -4 -o addr show | grep -q " $t" || die "${t}0/24 is in use on this host (another lab?)"
  done
  mkdir -p "$STATE"
  # whose lab: the cycle that made it (its reaper takes down that lab only)
  # or a user's `up`
  echo "${ZS_VAGRANT_CYCLE:-up $$}" >"$STATE/owner"
  echo "zs-v$(($$ % 10000))" >"$STATE/tag"
  lab_env
  mkdir -p "$STATE/console" "$VAGRANT_HOME"
  chmod 0755 "$STATE" "$STATE/console"
  t=$SECONDS
  stage "$bin"
  stamp "staged in $((SECONDS - t)) s: install ${ZEROSEG_VAGRANT_INSTALL:-deb}, $([ "${ZEROSEG_VAGRANT_CLUSTER:-1}" = 0 ] && echo standalone || echo cluster mode)"

  t=$SECONDS
  box=$(bash "$here/vagrant-box.sh" | tail -1)
  stamp "box ready in $((SECONDS - t)) s: $box"

  t=$SECONDS
  [ "$ZEROSEG_VAGRANT_DRIVER" = qemu ] && export LV_QEMU_AS_ROOT=1
  lv_start
  lv_net_define "$TAG-mgmt" "$TAG-m" "$MGMT_CIDR" nat
  lv_net_define "$TAG-underlay" "$TAG-u" "$UNDERLAY_CIDR" isolated
  lv_pool_define "$TAG" "/var/lib/libvirt/images/$TAG"
  stamp "libvirt ready in $((SECONDS - t)) s: networks $TAG-mgmt, $TAG-underlay, pool $TAG"

  t=$SECONDS
  box_add "$box"
  stamp "box added in $((SECONDS - t)) s"

  t=$SECONDS
  # (each line of vagrant's log with its time: where `up` spends it)
  if ! in_vagrant up --provider=libvirt 2>&1 | while IFS= read -r l; do printf '%(%T)T %s\n' -1 "$l"; done |
    tee "$STATE/up.log" | grep --line-buffered -E '==> [a-z0-9]+: (Creating|Starting|Machine booted|Running provisioner)|[Ee]rror'; then
    :
  fi
  # (made first: the failure report reads the agents' journals through it)
  in_vagrant ssh-config >"$ZEROSEG_VAGRANT_SSH_CONFIG" 2>/dev/null || true
  in_vagrant status 2>/dev/null | grep -E '^(node1|node2|attacker) ' | grep -v running && {
    die "vagrant up left VMs not running (console logs: $STATE/console)"
  }
  grep -q 'The SSH command responded with a non-zero exit status' "$STATE/up.log" &&
    die "provisioning failed"
  [ -s "$ZEROSEG_VAGRANT_SSH_CONFIG" ] || die "vagrant ssh-config failed"
  stamp "vagrant up (3 VMs, provisioned) in $((SECONDS - t)) s"
}

checks() {
  lab_env
  bash "$root/vagrant/run-checks.sh" "$@"
}

down() {
  [ -f "$STATE/tag" ] || { echo "vagrant-lab: no lab at $STATE"; return 0; }
  lab_env
  local t=$SECONDS
  if lv_running; then
    timeout 300 bash -c 'cd "$1/vagrant" && vagrant destroy -f' _ "$root" >"$STATE/destroy.log" 2>&1 ||
      echo "vagrant-lab: vagrant destroy failed (removing by name): $(tail -3 "$STATE/destroy.log")"
    # what vagrant left (or never knew of): by the lab's names
    lv_remove_domains "$TAG-"
    lv_remove_ours
  fi
  lv_stop
  lv_restore_host
  local left
  left=$(lv_leftovers "$TAG")
  rm -rf "$VAGRANT_HOME" "$VAGRANT_DOTFILE_PATH" "$STATE/stage" "$STATE/stage-tls" "/var/lib/libvirt/images/$TAG"
  if [ -n "$left" ]; then
    echo "vagrant-lab: left behind:"
    sed 's/^/  /' <<<"$left"
    return 1
  fi
  rm -rf "$STATE"
  stamp "down in $((SECONDS - t)) s: no domain, volume, network, process or iptables chain left"
}

# what a failed up leaves to read, before down removes it: vagrant's last
# words, each guest's console and, on a node, the agent's journal
show_logs() {
  local f vm
  if [ -f "$STATE/up.log" ]; then
    echo "--- vagrant up, the end:"
    tr '\r' '\n' <"$STATE/up.log" | grep -v -e 'Progress:' -e '^==> [a-z0-9]*:  --' | tail -25
  fi
  for f in "$STATE"/console/*.log; do
    [ -s "$f" ] && { echo "--- console of $(basename "$f" .log), the end:"; tail -5 "$f"; }
  done
  [ -s "$STATE/ssh_config" ] || return 0
  for vm in node1 node2; do
    echo "--- $vm: zeroseg's journal, the end:"
    timeout 60 ssh -F "$STATE/ssh_config" -o LogLevel=ERROR "$vm" sudo journalctl -u zeroseg --no-pager -o cat -n 8 || true
  done
}

# reaper PID: the backstop when the cycle is killed outright (ctest's
# TIMEOUT kills the test's process tree with SIGKILL: no trap runs). Started
# by the cycle in a session of its own, outside that tree, it waits for the
# cycle's PID to end, then for the lab's lock (every stage of the cycle
# holds it), and takes down the lab that cycle made if it is still there.
# After a cycle that ended by itself there is none, and it exits at once;
# a lab someone started in the second before it looked (its owner is not
# this cycle) is not its to take down.
reaper() {
  local pid=$1
  while kill -0 "$pid" 2>/dev/null; do sleep 1; done
  exec 9>"$LOCK"
  flock 9
  [ -f "$STATE/tag" ] || exit 0
  if [ "$(cat "$STATE/owner" 2>/dev/null)" != "cycle $pid" ]; then
    echo "vagrant-lab: [$(date -u +%T)] the cycle $pid ended; the lab up now is $(cat "$STATE/owner" 2>/dev/null || echo "of no cycle"), not its own: left up"
    exit 0
  fi
  echo "vagrant-lab: [$(date -u +%T)] the cycle $pid ended with its lab up: taking it down"
  down
}

# budget SECONDS: what a stage may take, within the cycle's deadline less
# the time `down` needs
budget() {
  local left=$((deadline - SECONDS - DOWN_RESERVE))
  [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}

cycle() {
  local bin=${1:?usage: vagrant-lab.sh cycle ZEROSEG} status=0 t0=$SECONDS t rc b
  if [ "$(id -u)" != 0 ]; then
    echo "vagrant-lab: needs root (libvirtd, networks)"
    [ "${ZEROSEG_REQUIRE_PRIVILEGED:-0}" = 1 ] && exit 1
    exit 77
  fi
  local tool missing=""
  for tool in vagrant virsh libvirtd qemu-system-x86_64 mmdebstrap; do
    command -v "$tool" >/dev/null || missing+=" $tool"
  done
  if [ -n "$missing" ]; then
    echo "vagrant-lab: missing:$missing (ZEROSEG_VAGRANT=1 scripts/install-deps.sh)"
    [ "${ZEROSEG_REQUIRE_PRIVILEGED:-0}" = 1 ] && exit 1
    exit 77
  fi
  bin=$(realpath "$bin")
  # the whole cycle ends (down included) before ctest's TIMEOUT (900 s)
  # would kill it: each stage gets what is left of ZEROSEG_VAGRANT_DEADLINE
  deadline=$((SECONDS + ${ZEROSEG_VAGRANT_DEADLINE:-840}))
  DOWN_RESERVE=${ZEROSEG_VAGRANT_DOWN_RESERVE:-90}
  # a lab of an earlier run that died uncleanly: gone before anything else
  down || true
  local log=/var/tmp/zs-vagrant-reaper.log
  # (setsid -f: forked away, so not in the tree ctest kills: a plain child
  # was killed with the cycle and left the lab up, seen by SIGKILLing the
  # tree as ctest does)
  setsid -f bash "$here/vagrant-lab.sh" reaper $$ </dev/null >>"$log" 2>&1 9>&-
  trap 'down || true' EXIT
  trap 'exit 130' INT TERM
  stage_in() {
    local secs=$1
    shift
    [ "$secs" -gt 0 ] || { echo "vagrant-lab: no time left for $1"; return 1; }
    timeout --kill-after=10 "$secs" env ZS_VAGRANT_LAB_LOCKED=1 ZS_VAGRANT_CYCLE="cycle $$" bash "$here/vagrant-lab.sh" "$@"
  }
  # the box first, on its own (cached: at once; cold: minutes), then up
  t=$SECONDS
  b=$(budget 900)
  timeout "$b" bash "$here/vagrant-box.sh" >"/var/tmp/zs-vagrant-box.log" 2>&1 ||
    { status=1; echo "vagrant-lab: the box failed (or took over $b s):"; tail -20 /var/tmp/zs-vagrant-box.log; }
  stamp "box in $((SECONDS - t)) s: $(tail -2 /var/tmp/zs-vagrant-box.log | head -1)"
  rm -f /var/tmp/zs-vagrant-box.log
  t=$SECONDS
  [ $status = 0 ] && { stage_in "$(budget "${ZEROSEG_VAGRANT_UP_BUDGET:-720}")" up "$bin" ||
    { status=1; echo "vagrant-lab: up failed or ran out of time"; show_logs; }; }
  stamp "up in $((SECONDS - t)) s"
  if [ $status = 0 ]; then
    t=$SECONDS
    stage_in "$(budget 240)" checks || status=1
    stamp "checks in $((SECONDS - t)) s"
    # the checks' own test: one expectation made wrong must fail them (in
    # cluster mode the cluster check's: a deny on node2 of a policy applied
    # on node1)
    t=$SECONDS
    rc=0
    local which=cluster
    [ "${ZEROSEG_VAGRANT_CLUSTER:-1}" != 0 ] || which=matrix
    ZEROSEG_CHECKS_WRONG=1 stage_in "$(budget 150)" checks --only "$which" >"$STATE/wrong.log" 2>&1 || rc=$?
    if [ $rc = 1 ] && grep -q 'FAIL .*wanted' "$STATE/wrong.log"; then
      echo "ok: with one expectation made wrong (ZEROSEG_CHECKS_WRONG=1) the checks fail: $(grep -m1 'FAIL' "$STATE/wrong.log")"
    else
      echo "FAIL: with a wrong expectation the checks exited $rc:"
      sed 's/^/  /' "$STATE/wrong.log"
      status=1
    fi
    stamp "the checks' test in $((SECONDS - t)) s"
  fi
  trap - EXIT
  t=$SECONDS
  down || status=1
  stamp "down in $((SECONDS - t)) s"
  stamp "cycle in $((SECONDS - t0)) s: $([ $status = 0 ] && echo passed || echo FAILED)"
  return $status
}

if [ "${ZS_VAGRANT_LAB_LOCKED:-0}" != 1 ] && [ "${1:-}" != reaper ]; then # (a stage of `cycle`: the cycle holds it)
  exec 9>"$LOCK"
  flock -n 9 || die "another VM lab runs ($LOCK): one at a time on this machine"
fi
cmd=${1:-}
shift || true
case "$cmd" in
  stage) dir=${2:-$root/build/vagrant-stage}
    stage "$(realpath "${1:?usage: vagrant-lab.sh stage ZEROSEG [DIR]}")" "$dir"
    echo "vagrant-lab: staged $dir (and $dir-tls: each node's certificates for etcd)" ;;
  up) up "$@" ;;
  checks) checks "$@" ;;
  ssh) lab_env; ssh -F "$ZEROSEG_VAGRANT_SSH_CONFIG" "$@" ;;
  down) down ;;
  cycle) cycle "$@" ;;
  reaper) reaper "$@" ;;
  *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
