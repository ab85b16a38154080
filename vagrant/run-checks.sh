#!/usr/bin/env bash
# The connectivity matrix of the VM lab, probed from inside the VMs (run on
# the machine that runs vagrant, after `vagrant up`): every workload to
# every workload, TCP on the service ports and ICMP, under the three-tier
# policy the nodes applied, compared with the same expectations as
# tests/e2e/lab_matrix.sh. Exits 1 on any difference.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=provision/topology.sh
source provision/topology.sh

THREE_TIER='
  *>dev/web:*  *>mgmt/bastion:*  *>guest/attacker:*
  *>prod/web:tcp/80  *>prod/web:icmp  mgmt/bastion>prod/web:tcp/22
  prod/web>prod/app:tcp/8080  mgmt/bastion>prod/app:tcp/22
  prod/app>prod/db:tcp/5432  mgmt/bastion>prod/db:tcp/22'
PROBES=(tcp/22 tcp/80 tcp/5432 tcp/8080 icmp)

addr_of() {  # NS/NAME -> its IPv4 address
  local w wnode ns name i
  for w in "${VM_WORKLOADS[@]}"; do
    read -r wnode ns name _ i <<<"$w"
    if [ "$1" = "$ns/$name" ]; then
      if [ "$wnode" = attacker ]; then echo "${VM_NODE_IP[attacker]}"; else echo "10.77.$i.2"; fi
    fi
  done
}

bad=0 n=0
for s in "${VM_WORKLOADS[@]}"; do
  read -r snode sns sname _ _ <<<"$s"
  # the attacker VM probes from itself; workloads from their namespace
  run=""
  [ "$snode" = attacker ] || run="ip netns exec $sns-$sname"
  for d in "${VM_WORKLOADS[@]}"; do
    read -r _ dns dname _ _ <<<"$d"
    [ "$sns/$sname" = "$dns/$dname" ] && continue
    ip=$(addr_of "$dns/$dname")
    for p in "${PROBES[@]}"; do
      if [ "$p" = icmp ]; then cmd="ping -c1 -W1 $ip"; else cmd="ncat -z -w1 $ip ${p#tcp/}"; fi
      if vagrant ssh "$snode" -c "sudo $run $cmd" >/dev/null 2>&1; then got=pass; else got=fail; fi
      key="$sns/$sname>$dns/$dname:$p" want=fail
      set -f
      for pat in $THREE_TIER; do
        # shellcheck disable=SC2053
        [[ $key == $pat ]] && want=pass
      done
      set +f
      n=$((n + 1))
      if [ "$got" != "$want" ]; then echo "  FAIL  $key: $got, wanted $want"; bad=$((bad + 1)); fi
    done
  done
done
echo "$((n - bad)) of $n probes as expected"
[ "$bad" = 0 ]
