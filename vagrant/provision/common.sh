#!/usr/bin/env bash
# Every lab VM: what the box lacks (nothing on the box scripts/vagrant-box.sh
# builds; the runtime libraries and tools on a Vagrant Cloud Debian box),
# the lab's files under /opt/zeroseg-lab, and on a node zeroseg itself from
# the host's build: the .deb when one was staged (the default), else the
# binary and deploy/'s systemd unit and agent.yaml; in cluster mode the
# agent's settings name node1's etcd.
#
# Usage: common.sh node|attacker NAME   (the stage is in /tmp/zeroseg-stage)
set -euo pipefail
role=$1 name=$2
stage=/tmp/zeroseg-stage
lab=/opt/zeroseg-lab
[ -d "$stage" ] || { echo "common.sh: no $stage (the file provisioner copies it)" >&2; exit 1; }
# the stage comes as one compressed archive (scp of a 5 MB binary into a
# TCG guest took over a minute: its ssh ciphers run emulated)
[ ! -f "$stage/stage.tar.gz" ] || tar -C "$stage" -xzf "$stage/stage.tar.gz"

# the hostname here, not by config.vm.hostname, which restarts every NIC of
# an ifupdown guest (~60 s per VM under TCG); not by hostnamectl either
# (it starts systemd-hostnamed through D-Bus: seconds under TCG)
echo "$name" >/etc/hostname
hostname "$name"
sed -i "s/^127.0.1.1.*/127.0.1.1 $name/" /etc/hosts

want=(python3 iproute2 iputils-ping ncat curl)
if [ "$role" = node ]; then
  want+=(libbpf1 libelf1 zlib1g libnl-3-200 libnl-route-3-200 libyaml-cpp0.7 libcpp-httplib0.11 libssl3 libbrotli1)
  # node1 of a cluster-mode lab runs etcd (provision/node.sh): the box
  # scripts/vagrant-box.sh builds has it, a Vagrant Cloud box does not
  if [ "$name" = node1 ] && [ -f "$stage/cluster" ]; then want+=(etcd-server); fi
else
  want+=(nmap)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian's own etcd unit starts on install and holds 127.0.0.1:2379,
  # where node.sh's zs-etcd listens too: masked, as the built box has it
  if [[ " ${missing[*]} " == *" etcd-server "* ]]; then
    systemctl stop etcd.service || true
    systemctl mask etcd.service
  fi
fi

install -d "$lab"
install -m 0644 "$stage/topology.sh" "$stage/three-tier.yaml" "$lab/"
install -m 0755 "$stage/lab_services.py" "$lab/"
[ "$role" = node ] || exit 0
# shellcheck source=topology.sh
source "$lab/topology.sh"

debs=("$stage"/*.deb)
if [ -f "${debs[0]}" ]; then
  # the operator-experience package: its unit, its config, its paths
  apt-get install -y -q --no-install-recommends "${debs[@]}"
else
  # where the unit's ExecStart (deploy/zeroseg.service, the .deb's path) runs it
  install -m 0755 "$stage/zeroseg" /usr/bin/zeroseg
  install -m 0644 "$stage/zeroseg.service" /etc/systemd/system/zeroseg.service
  install -D -m 0600 "$stage/agent.yaml" /etc/zeroseg/agent.yaml
fi
sed -i -e '/^node-name:/d' -e '/^cluster:/d' /etc/zeroseg/agent.yaml
echo "node-name: $(hostname)" >>/etc/zeroseg/agent.yaml
# cluster mode (the stage says where etcd is: node1, provision/node.sh)
sed -i -e '/^etcd-ca:/d' -e '/^etcd-cert:/d' -e '/^etcd-key:/d' /etc/zeroseg/agent.yaml
if [ -f "$stage/cluster" ]; then
  # this node's certificates for etcd's mutual TLS (the Vagrantfile copies
  # each node its own, outside the stage every VM gets: topology.sh)
  tls=/tmp/zeroseg-tls
  [ -f "$tls/client.pem" ] || { echo "common.sh: cluster mode without $tls/client.pem (scripts/vagrant-lab.sh stage makes it)" >&2; exit 1; }
  install -d -m 0700 "$VM_TLS_DIR"
  install -m 0644 "$tls"/*.pem "$VM_TLS_DIR/"
  chmod 0600 "$VM_TLS_DIR"/*-key.pem
  rm -rf "$tls"
  echo "cluster: $(cat "$stage/cluster")" >>/etc/zeroseg/agent.yaml
  printf 'etcd-ca: %s/ca.pem\netcd-cert: %s/client.pem\netcd-key: %s/client-key.pem\n' \
    "$VM_TLS_DIR" "$VM_TLS_DIR" "$VM_TLS_DIR" >>/etc/zeroseg/agent.yaml
  install -m 0644 "$stage/cluster" "$lab/cluster"
else
  rm -f "$lab/cluster"
fi
# as scripts/lib/lab.sh: mgmt/bastion still reaches a quarantined workload
grep -q '^quarantine-management:' /etc/zeroseg/agent.yaml ||
  echo 'quarantine-management: 10.77.5.0/24,fd77:5::/64' >>/etc/zeroseg/agent.yaml
systemctl daemon-reload
zeroseg --version
