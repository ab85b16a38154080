#!/usr/bin/env bash
# Builds the VM lab's vagrant-libvirt box locally: Debian 12 from Debian's
# mirror with mmdebstrap, no loop devices and no mounts, so it works in a
# container as well as on a laptop:
#   mmdebstrap (minbase + kernel, systemd, ssh, the packages the lab needs)
#   -> a customize hook (the vagrant user with Vagrant's insecure key, ifupdown
#      on eth0, fstab, per-VM ssh host keys and machine-id)
#   -> `mke2fs -d` into the partition's offset of a raw file (sfdisk makes the
#      MBR partition table on the file itself)
#   -> GRUB's boot.img and a core.img with an embedded config written with dd
#      (what grub-install would do, without a device to probe)
#   -> qemu-img convert to qcow2 -> box.img + metadata.json + Vagrantfile.
# The box is cached in a directory keyed by this script's hash and reused:
# editing the script builds a new one.
#
# Usage: scripts/vagrant-box.sh
#   prints the .box path last; ZEROSEG_BOX_CACHE (default /var/cache/zeroseg)
#   is where boxes are kept; ZEROSEG_BOX_MIRROR overrides the mirror.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${ZEROSEG_BOX_CACHE:-/var/cache/zeroseg}
mirror=${ZEROSEG_BOX_MIRROR:-http://deb.debian.org/debian}
key=$(sha256sum "$here/vagrant-box.sh" | cut -c1-16)
dir="$cache_root/vagrant-box-$key"
box="$dir/zeroseg-bookworm.box"

if [ -f "$box" ]; then
  echo "vagrant-box: cached $box"
  echo "$box"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "vagrant-box: needs root (mmdebstrap root mode, file ownership)" >&2; exit 1; }
for tool in mmdebstrap mke2fs sfdisk grub-mkimage qemu-img; do
  command -v "$tool" >/dev/null || { echo "vagrant-box: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
grub_dir=/usr/lib/grub/i386-pc
[ -f "$grub_dir/boot.img" ] || { echo "vagrant-box: $grub_dir/boot.img is missing (grub-pc-bin)" >&2; exit 1; }

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.zs-box-build.XXXXXX")
trap 'rm -rf "$work" "$dir.tmp"' EXIT
root="$work/root"
t0=$(date +%s)

# What the guests run: zeroseg's shared libraries (the binary is copied in
# from the build), the lab's workloads (python3), the checks (ncat, curl,
# ping), the attacker's scanner (nmap) and etcd for cluster mode (node1
# runs it; Debian's etcd-server, the one install-deps.sh puts on the host).
# Baked in: apt under TCG is slow, and a 21 MB etcd copied into a guest
# over ssh (its ciphers emulated) costs a minute of every `up`.
# The kernel from bookworm-backports (6.12): zeroseg's datapath does not
# pass bookworm's own 6.1 verifier (zs_xdp_ingress: Permission denied, seen
# in this lab's first boot), the host's kernel here is 6.18.
packages=(
  linux-image-amd64/bookworm-backports systemd-sysv udev dbus openssh-server sudo ifupdown isc-dhcp-client
  iproute2 iputils-ping procps kmod bpftool nftables python3 curl nmap ncat netcat-openbsd
  ca-certificates less etcd-server
  libbpf1 libelf1 zlib1g libnl-3-200 libnl-route-3-200 libyaml-cpp0.7 libcpp-httplib0.11
  libssl3 libbrotli1
)
insecure_key=$(cat /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1 || true)
# Vagrant's published insecure key: every base box carries it, and vagrant
# replaces it with a generated one on the first `up`
[ -n "$insecure_key" ] || insecure_key='ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key'
printf '%s\n' "$insecure_key" >"$work/vagrant.pub"

# the customize hook: runs with the finished tree as $1
cat >"$work/customize.sh" <<'HOOK'
#!/bin/sh
set -eu
r=$1
chroot "$r" useradd -m -s /bin/bash -U vagrant
echo 'vagrant:vagrant' | chroot "$r" chpasswd
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$r/etc/sudoers.d/vagrant"
chmod 0440 "$r/etc/sudoers.d/vagrant"
install -d -m 0700 -o 1000 -g 1000 "$r/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$VAGRANT_PUB" "$r/home/vagrant/.ssh/authorized_keys"
echo 'UseDNS no' >"$r/etc/ssh/sshd_config.d/vagrant.conf"
# every VM its own host keys and machine-id, made at first boot; no RSA
# key: under TCG on a busy machine `ssh-keygen -A`'s RSA key alone took
# over 90 s (the unit's start timeout: killed, restarted, 2.5 min of boot);
# ed25519 and ECDSA keys take a fraction of a second
rm -f "$r"/etc/ssh/ssh_host_*
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n' \
  >"$r/etc/ssh/sshd_config.d/hostkeys.conf"
mkdir -p "$r/etc/systemd/system/ssh.service.d"
# (the keys before the unit's own `sshd -t`, which fails without them)
printf '%s\n' '[Service]' 'ExecStartPre=' 'TimeoutStartSec=600' \
  "ExecStartPre=/bin/sh -c 'test -f /etc/ssh/ssh_host_ed25519_key || ssh-keygen -q -t ed25519 -N \"\" -f /etc/ssh/ssh_host_ed25519_key'" \
  "ExecStartPre=/bin/sh -c 'test -f /etc/ssh/ssh_host_ecdsa_key || ssh-keygen -q -t ecdsa -N \"\" -f /etc/ssh/ssh_host_ecdsa_key'" \
  'ExecStartPre=/usr/sbin/sshd -t' >"$r/etc/systemd/system/ssh.service.d/hostkeys.conf"
# what a lab VM never needs at boot (each unit costs seconds under TCG:
# modprobe@drm alone took 37 s): consoles to log in on (the serial console
# still shows the boot), the DRM module, periodic jobs, and Debian's own
# etcd on localhost (node1 of a cluster-mode lab starts its own, on the
# underlay; the other VMs run none)
for u in serial-getty@ttyS0.service getty@tty1.service modprobe@drm.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  dpkg-db-backup.timer systemd-tmpfiles-clean.timer etcd.service; do
  ln -sf /dev/null "$r/etc/systemd/system/$u"
done
: >"$r/etc/machine-id"
rm -f "$r/var/lib/dbus/machine-id"
echo zeroseg >"$r/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 zeroseg\n' >"$r/etc/hosts"
cat >"$r/etc/network/interfaces" <<EOF
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
EOF
# (no fsck at boot: 32 s under TCG, of a file system made a minute ago)
echo 'LABEL=zsroot / ext4 errors=remount-ro 0 0' >"$r/etc/fstab"
# nothing waits for network-online on every boot longer than it must
mkdir -p "$r/etc/systemd/system/networking.service.d"
printf '[Service]\nTimeoutStartSec=60\n' >"$r/etc/systemd/system/networking.service.d/timeout.conf"
chroot "$r" apt-get clean
rm -rf "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/locale/*
HOOK
chmod +x "$work/customize.sh"

echo "vagrant-box: mmdebstrap bookworm from $mirror"
mmdebstrap --variant=minbase --mode=root \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --customize-hook="VAGRANT_PUB='$work/vagrant.pub' '$work/customize.sh' \"\$1\"" \
  bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $mirror bookworm-backports main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
t1=$(date +%s)

kernel=$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -1)
initrd=initrd.img-${kernel#vmlinuz-}
[ -f "$root/boot/$initrd" ] || { echo "vagrant-box: no $initrd in the image" >&2; exit 1; }

# the disk: 1 MiB for GRUB's core image, then one ext4 partition
disk_mib=3072 part_start=2048
raw="$work/disk.raw"
truncate -s "${disk_mib}M" "$raw"
echo "start=$part_start, type=83, bootable" | sfdisk -q "$raw"
part_bytes=$(( (disk_mib * 2048 - part_start) * 512 ))
mke2fs -q -t ext4 -L zsroot -d "$root" -E "offset=$((part_start * 512))" "$raw" "$((part_bytes / 1024))k"

# (mitigations=off: qemu64 under TCG is assumed vulnerable, and page-table
# isolation flushes the emulated TLB on every system call)
# GRUB without grub-install: the core image finds the partition and boots
# the kernel from its embedded config; boot.img's first 440 bytes (the MBR
# code, not the partition table) load it from sector 1, its default.
cat >"$work/grub.cfg" <<EOF
set root=(hd0,msdos1)
set timeout=0
linux /boot/$kernel root=LABEL=zsroot ro console=tty0 console=ttyS0,115200 net.ifnames=0 biosdevname=0 no_timer_check quiet fsck.mode=skip mitigations=off
initrd /boot/$initrd
boot
EOF
grub-mkimage -O i386-pc -o "$work/core.img" -c "$work/grub.cfg" -p '(hd0,msdos1)/boot/grub' \
  biosdisk part_msdos ext2 linux boot configfile normal
core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
[ "$core_sectors" -lt "$part_start" ] || { echo "vagrant-box: core.img of $core_sectors sectors does not fit before the partition" >&2; exit 1; }
dd if="$grub_dir/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none

qemu-img convert -O qcow2 "$raw" "$work/box.img"
rm -f "$raw"
cat >"$work/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": $((disk_mib / 1024))}
EOF
cat >"$work/Vagrantfile" <<'EOF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
EOF
mkdir -p "$dir.tmp"
tar -C "$work" -cf "$dir.tmp/zeroseg-bookworm.box" metadata.json Vagrantfile box.img
rm -rf "$dir"
mv "$dir.tmp" "$dir"
t2=$(date +%s)
echo "vagrant-box: built $box ($(du -m "$box" | cut -f1) MiB): mmdebstrap $((t1 - t0)) s, image and box $((t2 - t1)) s"
echo "$box"
