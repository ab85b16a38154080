#!/usr/bin/env bash
# Installs every Debian 12 package that zeroseg's build, tests, demo and
# benchmarks need. Safe to run again; does nothing when all are present.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev libbpf-dev bpftool
  linux-libc-dev libelf-dev zlib1g-dev
  libnl-3-dev libnl-route-3-dev libyaml-cpp-dev libcli11-dev
  nlohmann-json3-dev libcpp-httplib-dev libgtest-dev libgmock-dev
  # labs, tests, demo, benchmarks
  iproute2 iputils-ping netcat-openbsd ncat nmap hping3 iperf3 curl
  netsniff-ng tcpdump iptables python3 python3-yaml util-linux
  # bench/veth_deny.sh: the peers (xdp-filter, nft) and profiling (perf)
  xdp-tools nftables linux-perf
  # bench/run.sh: the report's plots
  python3-matplotlib
  # telemetry checks: promtool (prometheus), an IPFIX collector (nfdump)
  prometheus nfdump
  # cluster mode (--cluster etcd://...) and its tests: a real etcd
  etcd-server etcd-client
  # etcd behind mutual TLS (e2e.cluster_tls, the VM lab's etcd): the certificates
  openssl
  # lint: shell scripts and the Vagrantfile
  shellcheck vagrant
  # the generated shell completion, loaded in each shell
  zsh fish
  # the generated man pages, rendered (tests/cli/man.sh)
  groff-base man-db
  # the service: systemd-analyze verify/security on the unit (lint.service_unit;
  # installs without systemd as PID 1), the .deb (cpack's Depends: dpkg-shlibdeps
  # and file)
  systemd dpkg-dev file
  # the live map (--ui-listen): d3, built into the binary; its browser test
  # (tests/e2e/ui_map.sh): headless chromium driven over CDP from Python
  libjs-d3 chromium python3-websockets
)
# the VM lab (scripts/vagrant-lab.sh, ctest -R vagrant.lab): libvirt under TCG
# and a box built locally (scripts/vagrant-box.sh); only with ZEROSEG_VAGRANT=1,
# which scripts/test.sh (the README's test command, and CI's) sets: libvirt and
# qemu are heavy for a machine that only builds zeroseg
if [ "${ZEROSEG_VAGRANT:-0}" = 1 ]; then
  packages+=(vagrant-libvirt libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
             dnsmasq-base ebtables mmdebstrap grub-pc-bin fdisk e2fsprogs)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
