#!/usr/bin/env bash
# The demo's checks across the VMs of the lab (run on the machine that ran
# `vagrant up`; scripts/vagrant-lab.sh runs it for the TCG lab):
#   matrix      every workload to every workload, TCP on the service ports
#               and ICMP, under the three-tier policy both nodes applied:
#               allowed and denied by identity, across VMs, as
#               tests/e2e/lab_matrix.sh expects in the namespace lab
#   flows       a cross-node flow (mgmt/bastion on node2 -> prod/web:22 on
#               node1) recorded, allowed, by both nodes
#   scan        nmap from the attacker VM at prod/db raises a port-scan
#               alert with the attacker's address on node1
#   quarantine  a live connection dev/web (node2) -> prod/web:443 (node1)
#               echoes, then `zeroseg quarantine add prod/web` on node1
#               cuts it; removed again afterwards
# Exits 0 only if every check held (and at least one ran).
#
#   run-checks.sh [--only matrix|flows|scan|quarantine]
#   ZEROSEG_CHECKS_WRONG=1: one expectation made wrong on purpose (dev/web
#   reaching prod/db:5432): the checks must fail, a test of the checks.
#   ZEROSEG_VAGRANT_SSH_CONFIG: `vagrant ssh-config` output (made when unset)
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=provision/topology.sh
source provision/topology.sh

only=""
[ "${1:-}" = --only ] && only=${2:?--only WHICH}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cfg=${ZEROSEG_VAGRANT_SSH_CONFIG:-}
if [ -z "$cfg" ]; then
  cfg=$work/ssh_config
  vagrant ssh-config >"$cfg" || { echo "FAIL: vagrant ssh-config (is the lab up?)"; exit 1; }
fi
# plain ssh: `vagrant ssh` costs seconds of Ruby per call
# (each word quoted for the remote shell: on VM CMD ARGS... runs exactly that)
on() { local vm=$1; shift; ssh -F "$cfg" -o LogLevel=ERROR "$vm" sudo "$(printf '%q ' "$@")"; }

checks=0 bad=0
pass() { checks=$((checks + 1)); echo "  ok    $*"; }
fail() { checks=$((checks + 1)); bad=$((bad + 1)); echo "  FAIL  $*"; }
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

THREE_TIER='
  *>dev/web:*  *>mgmt/bastion:*  *>guest/attacker:*
  *>prod/web:tcp/80  *>prod/web:icmp  mgmt/bastion>prod/web:tcp/22
  prod/web>prod/app:tcp/8080  mgmt/bastion>prod/app:tcp/22
  prod/app>prod/db:tcp/5432  mgmt/bastion>prod/db:tcp/22'
# prod/web takes 443 from anyone too (policies/three-tier.yaml)
THREE_TIER+='  *>prod/web:tcp/443'
[ "${ZEROSEG_CHECKS_WRONG:-0}" = 1 ] && THREE_TIER+='  dev/web>prod/db:tcp/5432'
PROBES=(tcp/22 tcp/80 tcp/443 tcp/5432 tcp/8080 icmp)

addr_of() {  # NS/NAME -> its IPv4 address
  local w wnode ns name i
  for w in "${VM_WORKLOADS[@]}"; do
    read -r wnode ns name _ i <<<"$w"
    if [ "$1" = "$ns/$name" ]; then
      if [ "$wnode" = attacker ]; then echo "${VM_NODE_IP[attacker]}"; else echo "10.77.$i.2"; fi
    fi
  done
}

# matrix: one list of probes per VM, run 8 at a time inside it (a denied
# probe waits out its timeout; all at once would starve a TCG guest into
# timing out allowed ones too)
check_matrix() {
  echo "== matrix: every workload to every workload, across the VMs"
  local vm s snode sns sname d dns dname p ip run cmd key got w pat n=0
  for vm in node1 node2 attacker; do
    : >"$work/$vm.list"
    for s in "${VM_WORKLOADS[@]}"; do
      read -r snode sns sname _ _ <<<"$s"
      [ "$snode" = "$vm" ] || continue
      run=""
      [ "$snode" = attacker ] || run="ip netns exec $sns-$sname"
      for d in "${VM_WORKLOADS[@]}"; do
        read -r _ dns dname _ _ <<<"$d"
        [ "$sns/$sname" = "$dns/$dname" ] && continue
        ip=$(addr_of "$dns/$dname")
        for p in "${PROBES[@]}"; do
          if [ "$p" = icmp ]; then cmd="ping -c1 -W6 $ip"; else cmd="ncat -z -w6 $ip ${p#tcp/}"; fi
          echo "$sns/$sname>$dns/$dname:$p|$run $cmd" >>"$work/$vm.list"
        done
      done
    done
    # shellcheck disable=SC2016
    on "$vm" xargs -P 8 -n 1 -d '\n' sh -c 'if ${1#*|} >/dev/null 2>&1; then echo "${1%%|*} pass"; else echo "${1%%|*} fail"; fi' _ \
      <"$work/$vm.list" >"$work/$vm.out" 2>&1 &
  done
  wait
  while read -r key got; do
    w=fail
    set -f
    for pat in $THREE_TIER; do
      # shellcheck disable=SC2053
      [[ $key == $pat ]] && w=pass
    done
    set +f
    n=$((n + 1))
    [ "$got" = "$w" ] || { fail "$key: $got, wanted $w"; continue; }
    checks=$((checks + 1))
  done < <(cat "$work"/node1.out "$work"/node2.out "$work"/attacker.out | grep -E ' (pass|fail)$')
  local total=$((5 * 5 * ${#PROBES[@]} + 5 * ${#PROBES[@]}))
  [ "$n" = "$total" ] && pass "$n probes ran ($total planned); mismatches above" ||
    fail "$n of $total probes answered: $(cat "$work"/*.out | grep -vE ' (pass|fail)$' | head -5)"
}

# flow_count VM PY_EXPR: flow records f of the VM's flow log satisfying it
flow_count() {
  on "$1" python3 - "$2" <<'PY'
import json, sys
n = 0
for line in open("/var/log/zeroseg/flows.json"):
    f = json.loads(line)
    src, dst = f.get("source", {}), f.get("destination", {})
    try:
        n += bool(eval(sys.argv[1]))
    except (KeyError, TypeError):
        pass
print(n)
PY
}

check_flows() {
  echo "== flows: mgmt/bastion (node2) -> prod/web:22 (node1), on both nodes"
  on node2 ip netns exec mgmt-bastion ncat -z -w4 10.77.1.2 22 || fail "bastion could not reach prod/web:22"
  sleep 2
  local vm n expr="src.get('ip')=='10.77.5.2' and dst.get('ip')=='10.77.1.2' and dst.get('port')==22 \
and f['event']=='flow-start' and f['verdict']=='allowed'"
  for vm in node1 node2; do
    n=$(flow_count "$vm" "$expr and f['node']=='$vm'")
    [ "${n:-0}" -ge 1 ] 2>/dev/null && pass "$vm recorded the flow bastion -> prod/web:22 allowed ($n)" ||
      fail "$vm has no allowed flow-start bastion -> prod/web:22 in its flow log (got '$n')"
  done
  n=$(flow_count node1 "f['event']=='deny' and src.get('ip')=='10.77.4.2' and dst.get('ip')=='10.77.3.2'")
  [ "${n:-0}" -ge 1 ] 2>/dev/null && pass "node1 recorded dev/web -> prod/db denied ($n)" ||
    fail "node1 has no deny of dev/web -> prod/db (got '$n')"
}

check_scan() {
  echo "== scan: nmap from the attacker VM at prod/db"
  on attacker nmap -sT -Pn -n --max-retries 0 --host-timeout 60s -p 1-200,443,5432,8080 10.77.3.2 >"$work/nmap.out" 2>&1 ||
    fail "nmap failed: $(tail -2 "$work/nmap.out")"
  local i got=0
  for i in $(seq 30); do
    got=$(on node1 zeroseg alerts --last 1000 -o json | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l)["detector"] == "port-scan"
          and json.loads(l)["source"]["ip"] == "192.168.77.66"))' 2>/dev/null)
    [ "${got:-0}" -ge 1 ] 2>/dev/null && break
    sleep 1
  done
  [ "${got:-0}" -ge 1 ] 2>/dev/null && pass "node1 raised a port-scan alert from the attacker 192.168.77.66" ||
    fail "no port-scan alert from 192.168.77.66 on node1 within 30 s: $(on node1 zeroseg alerts | tail -3)"
}

check_quarantine() {
  echo "== quarantine: a live connection dev/web (node2) -> prod/web:443 (node1), cut"
  on node2 tee /tmp/zs-held.py >/dev/null <<'PY'
import socket, sys, time
out = open(sys.argv[1], "a", buffering=1)
s = socket.create_connection(("10.77.1.2", 443), timeout=5)
out.write("connected\n")
s.settimeout(3)
n = 0
while True:
    n += 1
    try:
        s.sendall(b"ping %d\n" % n)
        got = s.recv(100)
        out.write(("ok %d\n" % n) if got.startswith(b"ping") else "closed\n")
        if not got:
            break
    except OSError as e:
        out.write("lost %d %s\n" % (n, e))
    time.sleep(0.5)
PY
  on node2 rm -f /tmp/zs-held.log
  on node2 systemd-run --unit zs-held --collect ip netns exec dev-web python3 /tmp/zs-held.py /tmp/zs-held.log >/dev/null ||
    { fail "could not start the held connection"; return; }
  local i ok=0 after
  for i in $(seq 20); do
    ok=$(on node2 grep -c '^ok' /tmp/zs-held.log 2>/dev/null)
    [ "${ok:-0}" -ge 3 ] && break
    sleep 1
  done
  if [ "${ok:-0}" -ge 3 ]; then pass "dev/web -> prod/web:443 holds a live connection (echoes)"
  else
    fail "no live connection dev/web -> prod/web:443: $(on node2 cat /tmp/zs-held.log | tail -3)"
    on node2 systemctl stop zs-held >/dev/null 2>&1
    return
  fi
  on node1 zeroseg quarantine add prod/web --expires 10m >/dev/null || fail "zeroseg quarantine add prod/web failed"
  sleep 8
  # what the connection did since: its last lines must all be losses
  after=$(on node2 tail -n 4 /tmp/zs-held.log)
  if grep -q '^ok' <<<"$after" || ! grep -qE '^(lost|closed)' <<<"$after"; then
    fail "the connection still echoes after the quarantine: $(tr '\n' ';' <<<"$after")"
  else
    pass "quarantine of prod/web cut the live connection: $(tail -n1 <<<"$after")"
  fi
  on node2 systemctl stop zs-held >/dev/null 2>&1
  on node1 zeroseg quarantine remove prod/web >/dev/null || fail "zeroseg quarantine remove prod/web failed"
  if on node2 ip netns exec dev-web ncat -z -w4 10.77.1.2 443; then pass "after quarantine remove, dev/web reaches prod/web:443 again"
  else fail "after quarantine remove, dev/web still cannot reach prod/web:443"; fi
}

want matrix && check_matrix
want flows && check_flows
want scan && check_scan
want quarantine && check_quarantine
echo "run-checks: $((checks - bad)) of $checks checks held"
[ "$checks" -gt 0 ] && [ "$bad" = 0 ]
