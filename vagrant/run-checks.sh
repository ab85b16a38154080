#!/usr/bin/env bash
# The demo's checks across the VMs of the lab (run on the machine that ran
# `vagrant up`; scripts/vagrant-lab.sh runs it for the TCG lab). Each
# property is probed once per family, not as a full matrix: under TCG a
# guest gets a few seconds of CPU a minute, and a denied probe costs its
# whole timeout.
#   matrix      allowed and denied traffic by identity between the VMs,
#               IPv4 and IPv6 (14 pairs x 2 families): the same port
#               allowed from one identity and denied from another, across
#               VMs and within a node, expected from the three-tier policy
#               as tests/e2e/lab_matrix.sh expects it in the namespace lab
#   flows       cross-node flows (mgmt/bastion on node2 -> prod/web:22 on
#               node1, both families) recorded, allowed, by both nodes; a
#               denied one (dev/web -> prod/db) recorded by node1
#   scan        nmap from the attacker VM at prod/db raises a port-scan
#               alert with the attacker's address on node1
#   quarantine  a live connection dev/web (node2) -> prod/web:443 (node1)
#               echoes, then `zeroseg quarantine add prod/web` on node1
#               cuts it; removed again afterwards
#   install     zeroseg as installed on both nodes: the .deb (dpkg's
#               status, the package's unit) or, with
#               ZEROSEG_VAGRANT_INSTALL=binary, the binary and unit copied
#               in; the unit active under systemd
#   cluster     (unless ZEROSEG_VAGRANT_CLUSTER=0) both agents connected to
#               node1's etcd (mutual TLS), which refuses a put from the
#               attacker VM and from a workload of node1 (http, and https
#               without the lab's certificate); `cluster status` listing the 2 live nodes on
#               each, every workload's identity equal on both nodes; a
#               policy applied once through node1 (--wait-all) enforced on
#               node2 by identity: prod/app (node1) -> dev/web:8080 (node2)
#               allowed, prod/web (node1) denied, node2's deny record naming
#               prod/web's identity; deleted through node2, open again
# install, matrix, flows and scan run at once (they touch different pairs);
# quarantine after them (it changes what prod/web accepts), cluster last
# (its policy selects dev/web, quarantine's client). Each check prints its
# time. Exits 0 only if every check held (and at least one ran).
#
#   run-checks.sh [--only install|matrix|flows|scan|quarantine|cluster]
#   ZEROSEG_CHECKS_WRONG=1: expectations made wrong on purpose (dev/web
#   reaching prod/db:5432; in cluster mode prod/web reaching dev/web:8080
#   under the cluster check's policy): the checks must fail, a test of them.
#   ZEROSEG_VAGRANT_SSH_CONFIG: `vagrant ssh-config` output (made when unset)
#   ZEROSEG_CHECKS_TIMEOUT: seconds a probe waits (default 3; one retry)
set -uo pipefail
cd "$(dirname "$0")" || exit 1
# shellcheck source=provision/topology.sh
source provision/topology.sh

only=""
[ "${1:-}" = --only ] && only=${2:?--only WHICH}
T=${ZEROSEG_CHECKS_TIMEOUT:-3}
work=$(mktemp -d)
cfg=${ZEROSEG_VAGRANT_SSH_CONFIG:-}
if [ -z "$cfg" ]; then
  cfg=$work/ssh_config
  vagrant ssh-config >"$cfg" || { echo "FAIL: vagrant ssh-config (is the lab up?)"; rm -rf "$work"; exit 1; }
fi
# plain ssh, one connection per VM shared by every call (a key exchange
# costs seconds of a TCG guest's CPU); the masters end with the checks
SSH=(ssh -F "$cfg" -o LogLevel=ERROR -o ControlMaster=auto -o "ControlPath=$work/cm-%n" -o ControlPersist=300)
cleanup() {
  local vm
  for vm in node1 node2 attacker; do
    [ -S "$work/cm-$vm" ] && "${SSH[@]}" -O exit "$vm" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT
# (each word quoted for the remote shell: on VM CMD ARGS... runs exactly that)
on() { local vm=$1; shift; "${SSH[@]}" "$vm" sudo "$(printf '%q ' "$@")"; }

pass() { echo "  ok    $*"; }
fail() { echo "  FAIL  $*"; }
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

THREE_TIER='
  *>dev/web:*  *>mgmt/bastion:*  *>guest/attacker:*
  *>prod/web:tcp/80  *>prod/web:icmp  mgmt/bastion>prod/web:tcp/22
  prod/web>prod/app:tcp/8080  mgmt/bastion>prod/app:tcp/22
  prod/app>prod/db:tcp/5432  mgmt/bastion>prod/db:tcp/22'
# prod/web takes 443 from anyone too (policies/three-tier.yaml)
THREE_TIER+='  *>prod/web:tcp/443'
[ "${ZEROSEG_CHECKS_WRONG:-0}" = 1 ] && THREE_TIER+='  dev/web>prod/db:tcp/5432'

# Each pair once: what it shows
PAIRS=(
  "mgmt/bastion>prod/db:tcp/22"      # allowed across VMs by identity (bastion of mgmt)
  "dev/web>prod/db:tcp/22"           # ... the same port denied from another identity
  "dev/web>prod/db:tcp/5432"         # denied by ingressDeny (namespace env=dev); the wrong expectation
  "dev/web>prod/app:tcp/8080"        # tier=web of dev is not prod's web
  "dev/web>prod/web:tcp/443"         # allowed to anyone, across VMs
  "mgmt/bastion>prod/web:icmp"       # ICMP echo allowed across VMs
  "prod/web>prod/app:tcp/8080"       # allowed within node1 by identity
  "prod/app>prod/db:tcp/5432"        # allowed within node1
  "prod/web>prod/db:tcp/5432"        # denied within node1
  "prod/web>dev/web:tcp/80"          # node1 -> node2, dev/web has no policy
  "guest/attacker>prod/web:tcp/80"   # the attacker VM: allowed to anyone's port
  "guest/attacker>prod/app:tcp/8080" # the attacker VM: denied
  "guest/attacker>prod/db:icmp"      # the attacker VM: ICMP denied
  "guest/attacker>mgmt/bastion:tcp/22" # the attacker VM to node2: no policy there
)

# addr_of NS/NAME 4|6 -> its address; vm_of NS/NAME -> the VM it runs on
addr_of() {
  local w wnode ns name i
  for w in "${VM_WORKLOADS[@]}"; do
    read -r wnode ns name _ i <<<"$w"
    [ "$1" = "$ns/$name" ] || continue
    if [ "$wnode" = attacker ]; then
      if [ "$2" = 4 ]; then echo "${VM_NODE_IP[attacker]}"; else echo "${VM_NODE_IP6[attacker]}"; fi
    elif [ "$2" = 4 ]; then echo "10.77.$i.2"
    else echo "fd77:$i::2"; fi
  done
}
vm_of() {
  local w wnode ns name
  for w in "${VM_WORKLOADS[@]}"; do
    read -r wnode ns name _ _ <<<"$w"
    [ "$1" = "$ns/$name" ] && echo "$wnode"
  done
}
# prefix_of NS/NAME: what runs a command as that workload on its VM
prefix_of() {
  [ "$(vm_of "$1")" = attacker ] || echo "ip netns exec ${1%/*}-${1#*/}"
}
expected() {
  local pat w=fail
  set -f
  for pat in $THREE_TIER; do
    # shellcheck disable=SC2053
    [[ $1 == $pat ]] && w=pass
  done
  set +f
  echo "$w"
}

check_matrix() {
  echo "== matrix: ${#PAIRS[@]} pairs x IPv4, IPv6, across the VMs"
  local vm pair src dst p f ip cmd key got w n=0 bad=0
  for vm in node1 node2 attacker; do : >"$work/$vm.list"; done
  for pair in "${PAIRS[@]}"; do
    src=${pair%%>*} dst=${pair#*>}
    p=${dst#*:} dst=${dst%%:*}
    for f in 4 6; do
      ip=$(addr_of "$dst" "$f")
      # (OpenBSD's nc, not ncat: under TCG every shared library an exec
      # relocates costs, and ncat brings libssl, liblua and libpcap)
      if [ "$p" = icmp ]; then cmd="ping -$f -c1 -W$T $ip"
      else cmd="nc -$f -z -w$T $ip ${p#tcp/}"; fi
      echo "$src>$dst:$p/v$f|$(prefix_of "$src") $cmd" >>"$work/$(vm_of "$src").list"
    done
  done
  # all of a VM's probes at once, each retried once on failure (a denied
  # probe so costs twice its timeout, an allowed one lost to a starved
  # guest gets a second chance)
  for vm in node1 node2 attacker; do
    # shellcheck disable=SC2016
    on "$vm" xargs -P 0 -n 1 -d '\n' sh -c 'c=${1#*|}; if eval "$c" >/dev/null 2>&1 || eval "$c" >/dev/null 2>&1; then echo "${1%%|*} pass"; else echo "${1%%|*} fail"; fi' _ \
      <"$work/$vm.list" >"$work/$vm.out" 2>&1 &
  done
  wait
  while read -r key got; do
    n=$((n + 1))
    w=$(expected "${key%/v[46]}")
    if [ "$got" = "$w" ]; then pass "$key: $got"
    else fail "$key: $got, wanted $w"; bad=$((bad + 1)); fi
  done < <(cat "$work"/node1.out "$work"/node2.out "$work"/attacker.out | grep -E ' (pass|fail)$')
  [ "$n" = $((2 * ${#PAIRS[@]})) ] ||
    fail "$n of $((2 * ${#PAIRS[@]})) probes answered: $(cat "$work"/*.out | grep -vE ' (pass|fail)$' | head -5)"
}

# flow_counts VM PY_EXPR...: for each expression, the flow records f of the
# VM's flow log satisfying it, polled for up to 10 s until each has one (the
# log is written by the agent's telemetry thread, a moment after the
# packet); one python per call: under TCG its start costs seconds
flow_counts() {
  local vm=$1
  shift
  on "$vm" python3 - "$@" <<'PY'
import json, sys, time
exprs = sys.argv[1:]
for _ in range(20):
    counts = [0] * len(exprs)
    for line in open("/var/log/zeroseg/flows.json"):
        f = json.loads(line)
        src, dst = f.get("source", {}), f.get("destination", {})
        for i, e in enumerate(exprs):
            try:
                counts[i] += bool(eval(e))
            except (KeyError, TypeError):
                pass
    if all(counts):
        break
    time.sleep(0.5)
print(" ".join(map(str, counts)))
PY
}

check_flows() {
  echo "== flows: mgmt/bastion (node2) -> prod/web:22 (node1) on both nodes, dev/web -> prod/db denied"
  local vm f ip exprs=() counts n
  for f in 4 6; do
    ip=$(addr_of prod/web $f)
    on node2 ip netns exec mgmt-bastion nc -$f -z -w"$T" "$ip" 22 ||
      on node2 ip netns exec mgmt-bastion nc -$f -z -w"$T" "$ip" 22 ||
      fail "bastion could not reach prod/web:22 over IPv$f"
  done
  on node2 ip netns exec dev-web nc -z -w1 10.77.3.2 5432 && fail "dev/web reached prod/db:5432"
  for vm in node1 node2; do
    exprs=()
    for f in 4 6; do
      exprs+=("src.get('ip')=='$(addr_of mgmt/bastion $f)' and dst.get('ip')=='$(addr_of prod/web $f)' \
and dst.get('port')==22 and f['event']=='flow-start' and f['verdict']=='allowed' and f['node']=='$vm'")
    done
    [ "$vm" = node1 ] && exprs+=("f['event']=='deny' and src.get('ip')=='10.77.4.2' and dst.get('ip')=='10.77.3.2'")
    read -r -a counts <<<"$(flow_counts "$vm" "${exprs[@]}")"
    for f in 4 6; do
      n=${counts[$((f / 2 - 2))]:-}
      if [ "${n:-0}" -ge 1 ] 2>/dev/null; then pass "$vm recorded bastion -> prod/web:22 allowed, IPv$f ($n)"
      else fail "$vm has no allowed flow-start bastion -> prod/web:22 over IPv$f in its flow log (got '$n')"; fi
    done
    [ "$vm" = node1 ] || continue
    n=${counts[2]:-}
    if [ "${n:-0}" -ge 1 ] 2>/dev/null; then pass "node1 recorded dev/web -> prod/db denied ($n)"
    else fail "node1 has no deny of dev/web -> prod/db (got '$n')"; fi
  done
}

check_scan() {
  echo "== scan: nmap from the attacker VM at prod/db"
  # 40 ports: above the port-scan threshold (15), each denied one waits out
  # nmap's probe timeout once (no retries)
  on attacker nmap -sT -Pn -n --max-retries 0 --max-rtt-timeout 500ms --host-timeout 60s \
    -p 1-36,80,443,5432,8080 10.77.3.2 >"$work/nmap.out" 2>&1 ||
    fail "nmap failed: $(tail -2 "$work/nmap.out")"
  local i got=0
  for i in $(seq 20); do
    got=$(on node1 zeroseg alerts --last 1000 -o json | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l)["detector"] == "port-scan"
          and json.loads(l)["source"]["ip"] == "192.168.77.66"))' 2>/dev/null)
    [ "${got:-0}" -ge 1 ] 2>/dev/null && break
    sleep 1
  done
  [ "${got:-0}" -ge 1 ] 2>/dev/null && pass "node1 raised a port-scan alert from the attacker 192.168.77.66" ||
    fail "no port-scan alert from 192.168.77.66 on node1 within 20 s of the scan: $(on node1 zeroseg alerts | tail -3)"
}

check_quarantine() {
  echo "== quarantine: a live connection dev/web (node2) -> prod/web:443 (node1), cut"
  on node2 tee /tmp/zs-held.py >/dev/null <<'PY'
import socket, sys, time
out = open(sys.argv[1], "a", buffering=1)
s = socket.create_connection(("10.77.1.2", 443), timeout=5)
out.write("connected\n")
s.settimeout(1)
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
    time.sleep(0.3)
PY
  on node2 rm -f /tmp/zs-held.log
  on node2 systemd-run --unit zs-held --collect ip netns exec dev-web python3 /tmp/zs-held.py /tmp/zs-held.log >/dev/null ||
    { fail "could not start the held connection"; return; }
  local i ok=0 after=""
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
  # cut: the connection's last three lines are all losses
  for i in $(seq 15); do
    sleep 1
    after=$(on node2 tail -n 3 /tmp/zs-held.log)
    grep -q '^ok' <<<"$after" || [ "$(grep -cE '^(lost|closed)' <<<"$after")" != 3 ] || break
  done
  if grep -q '^ok' <<<"$after" || [ "$(grep -cE '^(lost|closed)' <<<"$after")" != 3 ]; then
    fail "the connection still echoes 15 s after the quarantine: $(tr '\n' ';' <<<"$after")"
  else
    pass "quarantine of prod/web cut the live connection in ~$i s: $(tail -n1 <<<"$after")"
  fi
  on node2 systemctl stop zs-held >/dev/null 2>&1
  on node1 zeroseg quarantine remove prod/web >/dev/null || fail "zeroseg quarantine remove prod/web failed"
  if on node2 ip netns exec dev-web nc -z -w"$T" 10.77.1.2 443 ||
    on node2 ip netns exec dev-web nc -z -w"$T" 10.77.1.2 443; then pass "after quarantine remove, dev/web reaches prod/web:443 again"
  else fail "after quarantine remove, dev/web still cannot reach prod/web:443"; fi
}

check_install() {
  local mode=${ZEROSEG_VAGRANT_INSTALL:-deb} vm got unit
  echo "== install: zeroseg on both nodes ($mode), its unit active"
  for vm in node1 node2; do
    # shellcheck disable=SC2016
    got=$(on "$vm" dpkg-query -W -f '${Status} ${Version}' zeroseg 2>/dev/null)
    unit=$(on "$vm" systemctl show -p FragmentPath --value zeroseg)
    if [ "$mode" = deb ]; then
      if [[ $got == "install ok installed "* ]]; then pass "$vm: the package is installed ($got)"
      else fail "$vm: dpkg says '$got' of zeroseg, wanted installed"; fi
      if [[ $unit == */lib/systemd/system/zeroseg.service ]]; then pass "$vm: the unit is the package's ($unit)"
      else fail "$vm: the unit is '$unit', not the package's"; fi
    else
      if [ -z "$got" ] || [[ $got != *" installed "* ]]; then pass "$vm: no package (the binary copied in)"
      else fail "$vm: a zeroseg package is installed ($got), wanted the copied binary"; fi
      if [ "$unit" = /etc/systemd/system/zeroseg.service ]; then pass "$vm: the unit copied in ($unit)"
      else fail "$vm: the unit is '$unit', wanted /etc/systemd/system/zeroseg.service"; fi
    fi
    got=$(on "$vm" systemctl is-active zeroseg)
    if [ "$got" = active ]; then pass "$vm: zeroseg.service is active"
    else fail "$vm: zeroseg.service is '$got'"; fi
  done
}

# ids VM: "ns/name=identity ..." of every workload the VM's agent knows, sorted
ids() {
  on "$1" zeroseg workload list -o json | python3 -c '
import json, sys
print(" ".join(sorted("%s/%s=%s" % (w["namespace"], w["name"], w["identity"]) for w in json.load(sys.stdin))))'
}
# deny_id VM SRC_IP DST_IP: the source identity of the VM's latest deny
# record from SRC_IP to DST_IP ("" when none within ~10 s)
deny_id() {
  local id=""
  for _ in $(seq 10); do
    id=$(on "$1" zeroseg flows --last 500 -o json --verdict denied 2>/dev/null | python3 -c '
import json, sys
last = ""
for line in sys.stdin:
    try: f = json.loads(line)
    except ValueError: continue
    if f.get("source", {}).get("ip") == sys.argv[1] and f.get("destination", {}).get("ip") == sys.argv[2]:
        last = str(f["source"].get("identity", ""))
print(last)' "$2" "$3")
    [ -n "$id" ] && break
    sleep 1
  done
  echo "$id"
}
# probe VM NS-NAME IP PORT: exit 0 when IP:PORT answers from that workload
probe() { on "$1" ip netns exec "$2" nc -z -w"$T" "$3" "$4" || on "$1" ip netns exec "$2" nc -z -w"$T" "$3" "$4"; }

CLUSTER_POLICY='apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: vm-cluster-check, namespace: dev}
spec:
  selector: {matchLabels: {tier: web}}
  ingress:
  - from: [{selector: {matchLabels: {tier: app}}, namespaceSelector: {matchLabels: {env: prod}}}]
    ports: [{port: 8080, protocol: TCP}]'

check_cluster() {
  echo "== cluster: etcd on node1; a policy applied once through node1, enforced on node2 by identity"
  local vm got ids1 ids2 f ip out web_id w
  for vm in node1 node2; do
    got=$(on "$vm" zeroseg cluster status -o json | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(" ".join(sorted(x["node"] for x in j["nodes"] if x["ttl"] > 0)), j["connected"])' 2>&1)
    if [ "$got" = "node1 node2 True" ]; then pass "$vm: cluster status lists 2 live nodes (node1 node2), connected"
    else fail "$vm: cluster status says '$got', wanted 'node1 node2 True'"; fi
  done
  # etcd holds every policy and workload of the cluster: the attacker VM
  # (and a workload of a node) reaches its address, so it must refuse them
  # (mutual TLS: provision/topology.sh); a put that lands says "revision"
  local url="${VM_NODE_IP[$VM_ETCD_NODE]}:2379" put='{"key":"YXR0YWNr","value":"eA=="}' how proto
  for how in "attacker http" "attacker https" "node1:prod-web http" "node1:prod-web https"; do
    read -r vm proto <<<"$how"
    local -a cmd=(curl -s -m "$T" -k -X POST -d "$put" "$proto://$url/v3/kv/put")
    [ "${vm#*:}" = "$vm" ] || cmd=(ip netns exec "${vm#*:}" "${cmd[@]}")
    got=$(on "${vm%%:*}" "${cmd[@]}" 2>&1)
    if grep -q '"revision"' <<<"$got"; then fail "$vm wrote to etcd over $proto without a certificate: $got"
    else pass "$vm: etcd refuses a put over $proto without the lab's certificate"; fi
  done
  ids1=$(ids node1) ids2=$(ids node2)
  if [ -n "$ids1" ] && [ "$ids1" = "$ids2" ] && [ "$(wc -w <<<"$ids1")" = 8 ]; then
    pass "identities equal on both nodes (8 workloads): $ids1"
  else fail "identities differ or are missing: node1 '$ids1', node2 '$ids2'"; fi
  out=$(on node1 sh -c "printf '%s\n' \"\$1\" >/tmp/zs-cluster-check.yaml && zeroseg apply --wait-all -f /tmp/zs-cluster-check.yaml" _ "$CLUSTER_POLICY" 2>&1)
  if grep -q 'enforced on all 2 live nodes' <<<"$out"; then pass "node1 applied the policy once: $(tail -n1 <<<"$out")"
  else fail "apply --wait-all through node1: $(tr '\n' ';' <<<"$out")"; fi
  for f in 4 6; do
    ip=$(addr_of dev/web $f)
    w=pass
    if probe node1 prod-app "$ip" 8080; then got=pass; else got=fail; fi
    if [ "$got" = $w ]; then pass "cluster prod/app>dev/web:tcp/8080/v$f: $got (allowed on node2 by the policy)"
    else fail "cluster prod/app>dev/web:tcp/8080/v$f: $got, wanted $w"; fi
    w=fail
    [ "${ZEROSEG_CHECKS_WRONG:-0}" = 1 ] && w=pass
    if probe node1 prod-web "$ip" 8080; then got=pass; else got=fail; fi
    if [ "$got" = $w ]; then pass "cluster prod/web>dev/web:tcp/8080/v$f: $got (denied on node2 by identity)"
    else fail "cluster prod/web>dev/web:tcp/8080/v$f: $got, wanted $w"; fi
  done
  web_id=$(sed -n 's/.*prod\/web=\([0-9]*\).*/\1/p' <<<"$ids1")
  got=$(deny_id node2 "$(addr_of prod/web 4)" "$(addr_of dev/web 4)")
  if [ -n "$web_id" ] && [ "$got" = "$web_id" ]; then pass "node2's deny of prod/web -> dev/web names prod/web's identity ($got), not world"
  else fail "node2's deny of prod/web -> dev/web names identity '$got', wanted prod/web's '$web_id'"; fi
  out=$(on node2 sh -c "printf '%s\n' \"\$1\" >/tmp/zs-cluster-check.yaml && zeroseg delete --wait-all -f /tmp/zs-cluster-check.yaml" _ "$CLUSTER_POLICY" 2>&1)
  if grep -q 'enforced on all 2 live nodes' <<<"$out"; then pass "node2 deleted it once: $(tail -n1 <<<"$out")"
  else fail "delete --wait-all through node2: $(tr '\n' ';' <<<"$out")"; fi
  if probe node1 prod-web "$(addr_of dev/web 4)" 8080; then pass "after the delete, prod/web reaches dev/web:8080 again"
  else fail "after the delete, prod/web still cannot reach dev/web:8080"; fi
}

# timed NAME: run check_NAME into its own log, with its time at the end
timed() {
  local t0=$SECONDS
  "check_$1" >"$work/check-$1.log" 2>&1
  echo "   ($1: $((SECONDS - t0)) s)" >>"$work/check-$1.log"
}

t0=$SECONDS
for vm in node1 node2 attacker; do on "$vm" true & done # the shared connections
wait
echo "run-checks: ssh to the three VMs in $((SECONDS - t0)) s"
ran=()
for c in install matrix flows scan; do
  want "$c" && { timed "$c" & ran+=("$c"); }
done
wait
want quarantine && { timed quarantine; ran+=(quarantine); }
if [ "${ZEROSEG_VAGRANT_CLUSTER:-1}" != 0 ] && want cluster; then timed cluster; ran+=(cluster); fi
for c in "${ran[@]}"; do cat "$work/check-$c.log"; done
held=$(cat "$work"/check-*.log /dev/null | grep -c '^  ok ')
bad=$(cat "$work"/check-*.log /dev/null | grep -c '^  FAIL ')
echo "run-checks: $held of $((held + bad)) checks held in $((SECONDS - t0)) s"
[ "$((held + bad))" -gt 0 ] && [ "$bad" = 0 ]
