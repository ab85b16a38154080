#!/usr/bin/env bash
# The .deb end to end on this machine: built with cpack, its contents and
# control files checked with dpkg-deb, installed with dpkg -i; the unit's
# own ExecStart line (read from the installed unit) run as systemd would
# (its capability bounding set, no new privileges, NOTIFY_SOCKET, the
# directories it declares) until READY=1; `zeroseg status` passes against
# it; stopped (STOPPING=1), enforcement taken off the documented way
# (`zeroseg agent --uninstall`), `dpkg --purge`: nothing may be left (files,
# pins, processes). No systemd runs as PID 1 here: the VMs of vagrant/
# start the unit for real.
#
# It installs into / and uses the unit's own paths (/sys/fs/bpf/zeroseg,
# /run/zeroseg, ...): it skips when any of them, or the package, is there
# already (not this test's to remove). The agent runs in a namespace of its
# own (its metrics port and links are private).
#
# Usage: service_deb.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
for tool in cpack dpkg-deb dpkg setpriv; do
  command -v "$tool" >/dev/null || e2e_skip "$tool missing"
done

BUILD=$(realpath "$1")
tag=zs-p$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
OURS=(/usr/bin/zeroseg /etc/zeroseg /var/lib/zeroseg /var/log/zeroseg /run/zeroseg/zeroseg.sock /sys/fs/bpf/zeroseg
      /usr/lib/systemd/system/zeroseg.service /usr/share/doc/zeroseg /usr/share/man/man1/zeroseg.1
      /usr/share/bash-completion/completions/zeroseg /usr/share/zsh/vendor-completions/_zeroseg
      /usr/share/fish/vendor_completions.d/zeroseg.fish)
exec 9>/run/lock/zs-service-deb.lock
flock -n 9 || e2e_skip "another run of this test holds /run/lock/zs-service-deb.lock"
if dpkg-query -W -f='${Status}' zeroseg 2>/dev/null | grep -q installed; then
  e2e_skip "a zeroseg package is installed already"
fi
for p in "${OURS[@]}"; do [ ! -e "$p" ] || e2e_skip "$p exists (not this test's)"; done
# /run/zeroseg itself may hold a lab's sockets: gone at the end only if absent now
run_dir_was_there=0
[ -d /run/zeroseg ] && run_dir_was_there=1

agent_pid='' listener_pid='' installed=0
cleanup() {
  [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  if [ "$installed" = 1 ]; then
    [ -e /sys/fs/bpf/zeroseg ] && nsenter --net="/run/netns/$NODE" /usr/bin/zeroseg agent --uninstall \
      --config /etc/zeroseg/agent.yaml >/dev/null 2>&1
    dpkg --purge zeroseg >/dev/null 2>&1
  fi
  ip netns del "$NODE" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "== the .deb: cpack"
# cpack installs what the build made: the binary, man pages, completions
# (ZS_DEB_PREBUILT=1: they are in BUILD already, made some other way)
if [ "${ZS_DEB_PREBUILT:-0}" != 1 ]; then
  cmake --build "$BUILD" --target zeroseg man_pages completions -j2 >"$work/build.log" 2>&1 ||
    { echo "FAIL: build: $(tail -5 "$work/build.log")"; exit 1; }
fi
(cd "$work" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$work/pkg") >"$work/cpack.log" 2>&1 ||
  { echo "FAIL: cpack: $(tail -20 "$work/cpack.log")"; exit 1; }
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
deb="$work/pkg/zeroseg_${version}_$(dpkg --print-architecture).deb"
expect_ok "cpack made $(basename "$deb")" test -s "$deb"

contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
for f in ./usr/bin/zeroseg ./usr/lib/systemd/system/zeroseg.service ./etc/zeroseg/agent.yaml \
         ./usr/share/bash-completion/completions/zeroseg ./usr/share/zsh/vendor-completions/_zeroseg \
         ./usr/share/fish/vendor_completions.d/zeroseg.fish ./usr/share/doc/zeroseg/README.md \
         ./usr/share/doc/zeroseg/docs/install.md ./usr/share/doc/zeroseg/docs/img/map.png; do
  expect_contains "the .deb holds $f" "$contents" "$f"
done
expect_contains "the .deb holds the man pages" "$contents" "./usr/share/man/man1/zeroseg-agent.1"
expect_eq "the .deb's version is the project's" "$(dpkg-deb -f "$deb" Version)" "$version"
expect_eq "the package name" "$(dpkg-deb -f "$deb" Package)" zeroseg
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libbpf1 libyaml-cpp0.7 libnl-3-200 libcpp-httplib0.11 zlib1g libc6; do
  expect_contains "Depends names $lib (from what the binary links)" "$depends" "$lib"
done
dpkg-deb -e "$deb" "$work/control"
expect_eq "agent.yaml is a conffile" "$(cat "$work/control/conffiles" 2>/dev/null)" /etc/zeroseg/agent.yaml
for s in postinst prerm postrm; do expect_ok "maintainer script $s, executable" test -x "$work/control/$s"; done
expect_eq "agent.yaml readable by root only" "$(dpkg-deb -c "$deb" | awk '$NF == "./etc/zeroseg/agent.yaml" {print $1}')" \
  "-rw-------"

echo "== dpkg -i"
installed=1
expect_ok "dpkg -i" dpkg -i "$deb"
expect_ok "dpkg says installed" dpkg-query -W zeroseg
unit=/usr/lib/systemd/system/zeroseg.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
expect_eq "ExecStart names the installed binary" "${exec_start%% *}" /usr/bin/zeroseg
if command -v systemd-analyze >/dev/null; then
  # with the binary and the man page of Documentation= installed
  expect_ok "systemd-analyze verify on the installed unit (man pages too)" systemd-analyze verify "$unit"
fi
expect_ok "man zeroseg-agent finds the installed page" man -w zeroseg-agent
expect_ok "bash completion installed works" bash -c \
  'source /usr/share/bash-completion/completions/zeroseg && complete -p zeroseg'

echo "== the unit's ExecStart, as systemd would run it"
ip netns add "$NODE" && ip -n "$NODE" link set lo up
# what systemd makes from RuntimeDirectory=, StateDirectory=, LogsDirectory=
for d in $(sed -n 's/^RuntimeDirectory=//p' "$unit"); do install -d -m 0755 "/run/$d"; done
for d in $(sed -n 's/^StateDirectory=//p' "$unit"); do install -d -m 0755 "/var/lib/$d"; done
for d in $(sed -n 's/^LogsDirectory=//p' "$unit"); do install -d -m 0755 "/var/log/$d"; done
bounding=-all
for c in $(sed -n 's/^CapabilityBoundingSet=//p' "$unit"); do
  bounding+=",+$(echo "${c#CAP_}" | tr '[:upper:]' '[:lower:]')"
done
notify="@$tag-notify"
nsenter --net="/run/netns/$NODE" python3 -u "$here/notify_listener.py" --socket "$notify" --out "$work/notify" \
  --timeout 240 --on-ready true >"$work/listener.log" 2>&1 &
listener_pid=$!
for _ in $(seq 100); do grep -q LISTENING "$work/listener.log" && break; sleep 0.1; done
# shellcheck disable=SC2086  # ExecStart's words, as systemd splits them (no quotes in it)
NOTIFY_SOCKET=$notify nsenter --net="/run/netns/$NODE" setpriv --bounding-set "$bounding" --inh-caps=-all \
  --no-new-privs -- $exec_start >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1200); do
  grep -q $'\tREADY=1' "$work/notify" 2>/dev/null && break
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.1
done
expect_contains "READY=1 from the installed agent" "$(cat "$work/notify" 2>/dev/null)" "READY=1"
out=$(nsenter --net="/run/netns/$NODE" /usr/bin/zeroseg status 2>&1)
rc=$?
expect_eq "zeroseg status passes against it (exit 0)" "$rc" 0
expect_contains "status names the agent on the unit's socket" "$out" "pid $agent_pid on /run/zeroseg/zeroseg.sock"
expect_ok "its pins are the unit's" test -d /sys/fs/bpf/zeroseg
agent_was=$agent_pid
kill -TERM "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=
for _ in $(seq 50); do kill -0 "$listener_pid" 2>/dev/null || break; sleep 0.1; done
expect_contains "STOPPING=1 on SIGTERM" "$(cat "$work/notify")" "STOPPING=1"
wait "$listener_pid" 2>/dev/null; listener_pid=
expect_ok "the pins stay after SIGTERM (enforcement continues)" test -d /sys/fs/bpf/zeroseg

echo "== zeroseg agent --uninstall, dpkg --purge: nothing left"
expect_ok "zeroseg agent --uninstall" nsenter --net="/run/netns/$NODE" /usr/bin/zeroseg agent --uninstall \
  --config /etc/zeroseg/agent.yaml
# an administrator's own file (an etcd client key, say) survives the purge;
# the package's own settings do not
echo "not the package's" >/etc/zeroseg/etcd-client.key
purge_out=$(dpkg --purge zeroseg 2>&1); purge_rc=$?
expect_eq "dpkg --purge" "$purge_rc" 0
installed=0
expect_ok "the administrator's file in /etc/zeroseg stays" test -f /etc/zeroseg/etcd-client.key
expect_fail "the package's settings file is gone" test -e /etc/zeroseg/agent.yaml
expect_contains "purge names what it left" "$purge_out" "/etc/zeroseg is left: it holds files the package did not install: etcd-client.key"
rm -f /etc/zeroseg/etcd-client.key; rmdir /etc/zeroseg
expect_fail "dpkg no longer knows zeroseg" dpkg-query -W -f='${Status}' zeroseg
left=""
for p in "${OURS[@]}"; do [ ! -e "$p" ] || left+=" $p"; done
expect_eq "no file, directory or pin of the package left" "$left" ""
if [ "$run_dir_was_there" = 0 ]; then expect_fail "no /run/zeroseg left" test -e /run/zeroseg; fi
expect_fail "the agent's process is gone" kill -0 "$agent_was"
expect_eq "no process runs /usr/bin/zeroseg" "$(pgrep -fc '^/usr/bin/zeroseg' || true)" 0
ip netns del "$NODE"
expect_eq "no process of the agent's namespace left" "$(pgrep -fc "$tag" || true)" 0
cleanup
trap - EXIT
e2e_summary
