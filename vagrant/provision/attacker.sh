#!/usr/bin/env bash
# The attacker VM: scanning tools and routes to the nodes' workloads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/topology.sh" ] || here=/zeroseg/vagrant/provision
# shellcheck source=topology.sh
source "$here/topology.sh"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends nmap ncat curl python3
for w in "${VM_WORKLOADS[@]}"; do
  read -r wnode _ _ _ i <<<"$w"
  [ "$wnode" = attacker ] && continue
  ip route replace "10.77.$i.0/24" via "${VM_NODE_IP[$wnode]}"
done
