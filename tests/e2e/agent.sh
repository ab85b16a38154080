#!/usr/bin/env bash
# The agent end to end: real namespaces, real traffic, the CLI over the
# agent's socket. Three workloads (web, app, db) behind a node, a host
# uplink with its own policy, and a workload whose link appears later.
#
# Usage: agent.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"
e2e_require_root

ZS=$(realpath "$1")
tag=zs-a$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
SOCK=$work/zeroseg.sock PIN=/sys/fs/bpf/$tag STATE=$work/state
agent_pid=

cleanup() {
  [ -n "${conn_pid:-}" ] && kill "$conn_pid" 2>/dev/null
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "$work"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --socket "$SOCK"; }
starts=0
start_agent() {
  starts=$((starts + 1))
  # nsenter execs the agent: $! is the agent itself
  nsenter --net="/run/netns/$NODE" "$ZS" agent --socket "$SOCK" --bpf-pin-dir "$PIN" --state-dir "$STATE" \
    >"$work/agent.$starts.log" 2>&1 &
  agent_pid=$!
  # up to 60 s: loading the programs takes seconds on a loaded machine
  for _ in $(seq 600); do [ -S "$SOCK" ] && zs workload list >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "agent did not come up:"; cat "$work/agent.$starts.log"; return 1
}
stop_agent() { kill -TERM "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=; }

# --- topology: web 1, app 2, db 3; an uplink to an outside namespace -------
topo_node "$tag" || exit 1
declare -A IDX=([web]=1 [app]=2 [db]=3)
for w in web app db; do topo_workload "$tag" "$w" "${IDX[$w]}"; done
for w in web app db; do
  ip netns exec "$tag-$w" ncat -lk 80 --exec /bin/cat >/dev/null 2>&1 &
  ip netns exec "$tag-$w" python3 "$here/udp_echo.py" serve 53 &
done
# the uplink: the node's own interface towards "outside" (10.78.0.0/24)
ip netns add "$tag-out"
ip link add "$tag-up" netns "$NODE" type veth peer name "$tag-ext" netns "$tag-out"
ip -n "$NODE" addr add 10.78.0.1/24 dev "$tag-up"
ip -n "$tag-out" addr add 10.78.0.2/24 dev "$tag-ext"     # inside the management /28
ip -n "$tag-out" addr add 10.78.0.100/24 dev "$tag-ext"   # outside it
ip -n "$NODE" link set "$tag-up" up
ip -n "$tag-out" link set "$tag-ext" up
ip -n "$tag-out" link set lo up
in_node ncat -lk 22 --exec /bin/cat >/dev/null 2>&1 &
sleep 0.5
for s in web app db; do for d in web app db; do [ $s != $d ] && topo_warm "$tag" $s "${IDX[$d]}"; done; done

# --- probes: every pair, TCP/80, UDP/53, ICMP, IPv4 and IPv6, in parallel --
probe() {  # SRC DST PROTO FAMILY
  local ns="$tag-$1" ip
  if [ "$4" = 6 ]; then ip="fd77:${IDX[$2]}::2"; else ip="10.77.${IDX[$2]}.2"; fi
  case $3 in
    tcp) ip netns exec "$ns" ncat -z -w 1 "$ip" 80 ;;
    udp) ip netns exec "$ns" python3 "$here/udp_echo.py" probe "$ip" 53 ;;
    icmp) ip netns exec "$ns" ping -c1 -W1 "$ip" ;;
  esac >/dev/null 2>&1
}

# matrix NAME EXPECTED: EXPECTED lists "src>dst:proto" that must pass; every
# other pair and protocol must fail; both families are probed
matrix() {
  local name=$1 expected=" $2 " results="$work/matrix" s d p f key pids=()
  rm -rf "$results"; mkdir -p "$results"
  for s in web app db; do for d in web app db; do [ $s = $d ] && continue
    for p in tcp udp icmp; do for f in 4 6; do
      ( if probe $s $d $p $f; then echo pass; else echo fail; fi >"$results/$s>$d:$p:$f" ) &
      pids+=($!)
    done; done
  done; done
  wait "${pids[@]}"
  local bad=""
  for s in web app db; do for d in web app db; do [ $s = $d ] && continue
    for p in tcp udp icmp; do for f in 4 6; do
      key="$s>$d:$p"
      got=$(cat "$results/$key:$f")
      if [[ $expected == *" $key "* ]]; then want=pass; else want=fail; fi
      [ "$got" = "$want" ] || bad+=" $key(IPv$f: $got, wanted $want)"
    done; done
  done; done
  if [ -z "$bad" ]; then pass "matrix: $name"; else fail "matrix: $name:$bad"; fi
}

ALL="web>app:tcp web>app:udp web>app:icmp web>db:tcp web>db:udp web>db:icmp app>web:tcp app>web:udp app>web:icmp app>db:tcp app>db:udp app>db:icmp db>web:tcp db>web:udp db>web:icmp db>app:tcp db>app:udp db>app:icmp"

# --- the objects ---------------------------------------------------------
workloads() {  # web's labels: $1
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {env: prod}}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: shop, labels: {$1}}
spec: {interface: $tag-webh, ips: [10.77.1.2, "fd77:1::2"]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: app, namespace: shop, labels: {tier: app}}
spec: {interface: $tag-apph, ips: [10.77.2.2, "fd77:2::2"], ports: [{name: http, port: 80}]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: db, namespace: shop, labels: {tier: db}}
spec: {interface: $tag-dbh, ips: [10.77.3.2, "fd77:3::2"]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: node, namespace: infra, labels: {role: node}}
spec: {interface: $tag-up, attach: host, ips: [10.78.0.1]}
YAML
}
workloads "tier: web" >"$work/workloads.yaml"
cat >"$work/policy.yaml" <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {tier: web}}
  ingress: [{ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app, namespace: shop}
spec:
  podSelector: {matchLabels: {tier: app}}
  ingress: [{from: [{podSelector: {matchLabels: {tier: web}}}], ports: [{port: http}]}]
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {tier: db}}
  ingress:
  - from: [{selector: {matchLabels: {tier: app}}}]
    ports: [{port: 80}, {port: 53, protocol: UDP}]
    icmp: [{type: 8}, {type: 128, family: IPv6}]
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: node-ssh, namespace: infra}
spec:
  selector: {matchLabels: {role: node}}
  ingress: [{from: [{cidr: 10.78.0.0/28}], ports: [{port: 22}]}]
YAML
THREE_TIER="web>app:tcp app>web:tcp db>web:tcp app>db:tcp app>db:udp app>db:icmp"

# --- the run -------------------------------------------------------------
echo "== apply, enforce, change, delete"
start_agent || exit 1
matrix "no objects: a flat network" "$ALL"
expect_ok "apply workloads" zs apply -f "$work/workloads.yaml"
matrix "workloads, no policy: still open" "$ALL"
out=$(zs apply -f "$work/policy.yaml")
if [[ $out == *"NetworkPolicy/shop/web created"* && $out == *"SegmentPolicy/shop/db created"* ]]; then pass "apply lists what it created"; else fail "apply said: $out"; fi
matrix "three-tier policy" "$THREE_TIER"
generation() { zs status --bpf-pin-dir "$PIN" -o json | python3 -c "import json,sys; print(json.load(sys.stdin)['generation'])"; }
rev_before=$(generation)
out=$(zs apply -f "$work/policy.yaml" -o json)
rev_after=$(generation)
if [[ $out == *'"unchanged"'* && $out != *'"created"'* && $rev_before == "$rev_after" ]]; then
  pass "applying the same file again changes nothing (generation $rev_after)"
else
  fail "re-apply: $out; generation $rev_before -> $rev_after"
fi

expect_ok "policy diff --exit-code: 0 when applying would change nothing" zs policy diff -f "$work/policy.yaml" --exit-code
sed 's/ports: \[{port: 80}\]/ports: [{port: 8080}]/' "$work/policy.yaml" >"$work/policy-changed.yaml"
rc=0
zs policy diff -f "$work/policy-changed.yaml" --exit-code >/dev/null 2>&1 || rc=$?
expect_eq "policy diff --exit-code: 1 when applying would change something" "$rc" 1
rc=0
in_node "$ZS" policy diff -f "$work/policy-changed.yaml" --exit-code --socket "$work/nobody.sock" >"$work/diff.out" 2>&1 || rc=$?
expect_eq "policy diff --exit-code: 2 when it cannot tell (no agent)" "$rc" 2
expect_contains "policy diff --exit-code: the error is said" "$(cat "$work/diff.out")" "cannot reach the zeroseg agent"
expect_ok "policy diff without --exit-code: 0 either way" zs policy diff -f "$work/policy-changed.yaml"

# -o yaml is -o json in another syntax; --no-headers drops the header line
yaml_as_json() { python3 -c "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin), sort_keys=True))"; }
json_sorted() { python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))"; }
for words in "workload list" "policy list" "identity list"; do
  # shellcheck disable=SC2086  # the words are split on purpose
  expect_eq "$words -o yaml holds what -o json holds" "$(zs $words -o yaml | yaml_as_json)" "$(zs $words -o json | json_sorted)"
done
expect_eq "workload list --no-headers: one line a workload" "$(zs workload list --no-headers | grep -c .)" \
  "$(zs workload list -o json | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")"
expect_eq "bpf dump endpoints -o yaml holds what -o json holds" \
  "$(in_node "$ZS" bpf dump endpoints --bpf-pin-dir "$PIN" -o yaml | yaml_as_json)" \
  "$(in_node "$ZS" bpf dump endpoints --bpf-pin-dir "$PIN" -o json | json_sorted)"

ct_count() { in_node "$ZS" bpf dump conntrack --bpf-pin-dir "$PIN" -o json | python3 -c "import json,sys; print(len(json.load(sys.stdin)))"; }
ct_before=$(ct_count)
out=$(zs policy trace --from shop/web --to app --port 80/tcp)
if [[ $out == *"allowed by NetworkPolicy/shop/app ingress[0]"* && $out == *"verdict: allowed"* ]]; then pass "trace: web -> app allowed, naming the rule"; else fail "trace web->app: $out"; fi
out=$(zs policy trace --from web --to db --port 80/tcp)
if [[ $out == *"default deny: SegmentPolicy/shop/db selects shop/db for ingress"* && $out == *"verdict: denied"* ]]; then pass "trace: web -> db denied, naming the policy that selects db"; else fail "trace web->db: $out"; fi
out=$(zs policy trace --from 10.78.0.100 --to infra/node --port 22/tcp)
if [[ $out == *"verdict: denied"* ]]; then pass "trace: SSH to the node from outside the management CIDR is denied"; else fail "trace ssh: $out"; fi
out=$(zs policy trace --from app --to db --port 8/icmp)
if [[ $out == *"allowed by SegmentPolicy/shop/db ingress[0]"* ]]; then pass "trace: ICMP echo app -> db allowed"; else fail "trace icmp: $out"; fi
[ "$(ct_count)" = "$ct_before" ] && pass "trace leaves conntrack alone" || fail "trace created conntrack entries"

ssh_from() { ip netns exec "$tag-out" ncat -z -w 1 -s "$1" 10.78.0.1 22; }
expect_ok "host uplink: SSH from the management CIDR" ssh_from 10.78.0.2
expect_fail "host uplink: SSH from elsewhere is dropped" ssh_from 10.78.0.100
out=$(in_node "$ZS" status --bpf-pin-dir "$PIN" --socket "$SOCK")
if [[ $out == *"agent: pid $agent_pid"* && $out == *"4 workloads, 4 policies"* ]]; then pass "status shows the agent's view"; else fail "status: $(echo "$out" | head -3)"; fi
hooks=$(in_node "$ZS" status --bpf-pin-dir "$PIN" --socket "$SOCK" -o json | python3 -c "import json,sys; print([e['hooks'] for e in json.load(sys.stdin)['endpoints'] if e['kind']=='host'][0])")
if [ "$hooks" = "xdp/tc" ]; then pass "the uplink is guarded by XDP"; else fail "uplink hooks: $hooks"; fi

out=$(printf 'apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: x}\nspec:\n  ips: [10.1.2.300]\n' >"$work/bad.yaml"; zs apply -f "$work/bad.yaml" 2>&1); rc=$?
if [ $rc = 1 ] && [[ $out == *"$work/bad.yaml:5:9: Workload.spec.ips: \"10.1.2.300\" is not an IP address"* ]]; then pass "a bad file is refused with file:line:column (exit 1)"; else fail "bad file: rc=$rc $out"; fi
matrix "after the refused apply: unchanged" "$THREE_TIER"

workloads "tier: web2" >"$work/relabelled.yaml"
zs apply -f "$work/relabelled.yaml" >/dev/null
# web's own policy no longer selects it (open), app no longer admits it
matrix "web relabelled: selections re-converge" "app>web:tcp app>web:udp app>web:icmp db>web:tcp db>web:udp db>web:icmp app>db:tcp app>db:udp app>db:icmp"
zs apply -f "$work/workloads.yaml" >/dev/null
matrix "label restored" "$THREE_TIER"

echo "== objects as kubectl prints them, from standard input"
# a List (all or none) with what an API server writes (tests/cli/kubectl_list.yaml)
kubectl_list="$(dirname "$0")/../cli/kubectl_list.yaml"
out=$(zs apply -f - <"$kubectl_list" 2>&1)
if [[ $out == *"Namespace/prod created"* && $out == *"NetworkPolicy/prod/db created"* ]]; then pass "apply -f - of a kubectl List"
else fail "apply -f - of a kubectl List: $out"; fi
stored=$(zs policy get NetworkPolicy/prod/db -o yaml 2>&1)
if [[ $stored == *"name: db"* && $stored != *managedFields* && $stored != *resourceVersion* ]]; then
  pass "stored without the server's fields"
else fail "policy get: $stored"; fi
out=$(sed 's/^    uid: 0f6c.*/&\n    owner: me/' "$kubectl_list" | zs apply -f - 2>&1) && fail "an unknown field applied: $out" ||
  expect_contains "an unknown field is refused with its place" "$out" '<stdin>:60:5: unknown field "owner" in NetworkPolicy.metadata'

echo "== restart and SIGTERM keep enforcement and flows"
mkfifo "$work/in" "$work/out"
ip netns exec "$tag-web" ncat 10.77.2.2 80 <"$work/in" >"$work/out" &
conn_pid=$!
exec 7>"$work/in" 8<"$work/out"
echo_line() { echo "$1" >&7 && IFS= read -r -t 2 reply <&8 && [ "$reply" = "$1" ]; }
expect_ok "web -> app: an established connection" echo_line one
[ -s "$STATE/desired.log" ] && pass "applies since the start are journaled (desired.log)" || fail "no desired.log in $STATE"
[ -s "$STATE/rules.log" ] && pass "new rule ids are journaled, not the whole rules.json rewritten (rules.log)" || fail "no rules.log in $STATE"
stop_agent
expect_ok "agent stopped: the connection carries on" echo_line two
expect_fail "agent stopped: denied traffic stays denied" probe web db tcp 4
start_agent || exit 1
expect_ok "agent restarted: the connection survived" echo_line three
expect_fail "agent restarted: denied traffic stays denied" probe web db tcp 4
grep -q " 0 map entries reconciled" "$work/agent.$starts.log" && pass "restart reconciled without rewriting the maps" || fail "restart: $(cat "$work/agent.$starts.log")"
[ ! -e "$STATE/desired.log" ] && [ -s "$STATE/desired.yaml" ] && pass "restart folded the journal into the snapshot" || fail "after restart: $(ls -l "$STATE")"
[ ! -e "$STATE/rules.log" ] && [ -s "$STATE/rules.json" ] && pass "restart folded the rule id log into rules.json" || fail "after restart: $(ls -l "$STATE")"
after=$(zs policy get NetworkPolicy/prod/db -o yaml 2>&1)
[ "$after" = "$stored" ] && pass "the List's policy reads back after the restart, the same" || fail "after restart: $after"
out=$(zs delete -f - <"$kubectl_list" 2>&1)
[[ $out == *"NetworkPolicy/prod/db deleted"* ]] && pass "delete -f - of the List" || fail "delete -f -: $out"
exec 7>&- 8<&-; kill "$conn_pid" 2>/dev/null; conn_pid=

echo "== a workload whose link appears later"
topo_workload "$tag" late 4 --no-link
cat >"$work/late.yaml" <<YAML
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: late, namespace: shop, labels: {tier: late}}
spec: {interface: $tag-lateh, ips: [10.77.4.2]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: late-deny, namespace: shop}
spec: {podSelector: {matchLabels: {tier: late}}}
YAML
zs apply -f "$work/late.yaml" >/dev/null
waiting=$(zs workload list | grep -c "(waiting)")
[ "$waiting" = 1 ] && pass "workload list shows the interface it waits for" || fail "no waiting interface shown"
topo_link "$tag" late 4
ip netns exec "$tag-late" ncat -lk 80 --exec /bin/cat >/dev/null 2>&1 &
attached=
for _ in $(seq 30); do
  if zs workload list -o json | python3 -c "import json,sys; sys.exit(0 if [w for w in json.load(sys.stdin) if w['name']=='late' and w.get('attached')] else 1)"; then attached=1; break; fi
  sleep 0.1
done
[ -n "$attached" ] && pass "the agent attached when the link appeared" || fail "the late link was not attached"
ip netns exec "$tag-app" ping -c1 -W2 10.77.4.2 >/dev/null 2>&1  # neighbours
expect_fail "the late workload is default-deny" ip netns exec "$tag-app" ncat -z -w 1 10.77.4.2 80

echo "== access and removal"
perm=$(stat -c %a "$SOCK")
[ "$perm" = 600 ] && pass "the socket is 0600" || fail "socket mode $perm"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$ZS" workload list --socket "$SOCK" 2>&1); rc=$?
if [ $rc = 1 ] && [[ $out == *"Permission denied"* || $out == *"permission denied"* ]]; then pass "a non-root peer is refused"; else fail "non-root: rc=$rc $out"; fi

zs delete -f "$work/policy.yaml" >/dev/null
zs delete -f "$work/late.yaml" >/dev/null
matrix "policies deleted: open again" "$ALL"

stop_agent
# as if another version pinned them: a map this version has is missing
rm "$PIN/zs_deny_sources"
in_node "$ZS" agent --uninstall --bpf-pin-dir "$PIN" --socket "$SOCK" >/dev/null
left=$(in_node tc filter show dev "$tag-webh" egress | wc -l)
if [ ! -e "$PIN" ] && [ "$left" = 0 ]; then pass "--uninstall removed pins and programs (pins of another version)"; else fail "left: pins $(ls "$PIN" 2>/dev/null | wc -l), filters $left"; fi

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
