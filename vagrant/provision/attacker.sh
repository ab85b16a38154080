#!/usr/bin/env bash
# The attacker VM: routes to the nodes' workloads and the lab's services
# (its tools came with common.sh).
set -euo pipefail
# shellcheck source=topology.sh
source /opt/zeroseg-lab/topology.sh
for w in "${VM_WORKLOADS[@]}"; do
  read -r wnode _ _ _ i <<<"$w"
  [ "$wnode" = attacker ] && continue
  ip route replace "10.77.$i.0/24" via "${VM_NODE_IP[$wnode]}"
done
vm_underlay6 attacker
# the attacker's own services, so the matrix's probes into guest/attacker
# see a listener (as in the namespace lab)
systemctl is-active -q zs-services-guest-attacker ||
  systemd-run --unit zs-services-guest-attacker \
    python3 /opt/zeroseg-lab/lab_services.py guest/attacker --http 80 --tcp 22,443,5432,8080 --udp 53
