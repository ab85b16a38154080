#!/usr/bin/env bash
# Kubernetes NetworkPolicy semantics with real traffic, in the style of the
# Kubernetes network-policy e2e suite (re-implemented, not copied):
# namespaces x, y, z (labelled ns=NAME) with pods a, b, c (labelled
# pod=NAME) behind one node, TCP and UDP servers on ports 80 and 81. Each
# scenario applies its policies and probes every pod from every other pod,
# comparing with an expectation written as patterns "SRC>DST:PROTO/PORT"
# (globs); the last pattern that matches a probe decides, "!" marks denial.
#
# Usage: k8s_netpol.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
LAB=zs-k$(($$ % 1000))
LAB_WORKLOADS=()
for ns in x y z; do for pod in a b c; do LAB_WORKLOADS+=("$ns $pod pod=$pod"); done; done
LAB_NAMESPACES=(x y z)
declare -A LAB_NS_LABELS=([x]="ns: x" [y]="ns: y" [z]="ns: z")
LAB_TCP_PORTS=81 LAB_UDP_PORTS=80,81  # and HTTP on TCP 80
LAB_PORTS_YAML='[{name: serve-80-tcp, port: 80}, {name: serve-81-tcp, port: 81}, {name: serve-80-udp, port: 80, protocol: UDP}, {name: serve-81-udp, port: 81, protocol: UDP}]'
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
work=$(mktemp -d)
trap 'lab_down; rm -rf "$work"' EXIT
PODS=(x/a x/b x/c y/a y/b y/c z/a z/b z/c)

# check NAME PATTERNS: probe everything, compare
check() {
  local name=$1 patterns=$2 src targets=() dst pids=() key got want pat bad="" n=0
  for dst in "${PODS[@]}"; do targets+=("$dst=$(lab_ip "$dst")"); done
  for src in "${PODS[@]}"; do
    lab_exec "$src" python3 "$here/probe_matrix.py" "$src" 1 "${targets[@]}" -- tcp/80 tcp/81 udp/80 udp/81 \
      >"$work/probes.${src/\//_}" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  while read -r key got; do
    [ "${key%%>*}" = "$(cut -d: -f1 <<<"${key#*>}")" ] && continue  # a pod to itself never leaves it
    n=$((n + 1))
    want=fail
    set -f
    for pat in $patterns; do
      # shellcheck disable=SC2053
      if [[ $pat == !* ]]; then [[ $key == ${pat#!} ]] && want=fail
      else [[ $key == $pat ]] && want=pass; fi
    done
    set +f
    [ "$got" = "$want" ] || bad+=" $key($got, wanted $want)"
  done < <(cat "$work"/probes.*)
  if [ -z "$bad" ]; then pass "$name ($n probes)"; else fail "$name:$bad"; fi
}

# scenario NAME PATTERNS < POLICIES: replaces the previous scenario's policies
scenario() {
  cat >"$work/policy.yaml"
  if [ -s "$work/applied.yaml" ]; then lab_zs delete -f "$work/applied.yaml" >/dev/null || fail "$1: delete"; fi
  if lab_zs apply -f "$work/policy.yaml" >"$work/apply.out" 2>&1; then cp "$work/policy.yaml" "$work/applied.yaml"
  else fail "$1: apply: $(cat "$work/apply.out")"; return; fi
  check "$1" "$2"
}
np() {  # NAME NAMESPACE SPEC...: one NetworkPolicy document
  printf -- '---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: %s, namespace: %s}\nspec:\n' "$1" "$2"
  shift 2
  printf '  %s\n' "$@"
}
A='podSelector: {matchLabels: {pod: a}}'

echo "== lab $LAB: x, y, z with pods a, b, c"
lab_up || { fail "lab up"; exit 1; }
check "no policy: everything reaches everything" '*'

scenario "default deny ingress in x" '* !*>x/*:*' < <(np deny-in x 'podSelector: {}' 'policyTypes: [Ingress]')
scenario "default deny egress in x" '* !x/*>*:*' < <(np deny-out x 'podSelector: {}' 'policyTypes: [Egress]')
scenario "allow all ingress ([{}]) in x" '*' < <(np allow-in x 'podSelector: {}' 'ingress: [{}]')
scenario "podSelector peer: x/a from pod=b of x only" '* !*>x/a:* x/b>x/a:*' \
  < <(np a-from-b x "$A" 'ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]')
scenario "namespaceSelector peer: x/a from namespace y" '* !*>x/a:* y/*>x/a:*' \
  < <(np a-from-y x "$A" 'ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]')
scenario "one peer with both selectors is an AND: only y/b" '* !*>x/a:* y/b>x/a:*' \
  < <(np a-and x "$A" 'ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]}]')
scenario "two peers are an OR: namespace y, or pod=b of x" '* !*>x/a:* y/*>x/a:* x/b>x/a:*' \
  < <(np a-or x "$A" 'ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}, {podSelector: {matchLabels: {pod: b}}}]}]')
scenario "namespaceSelector matchExpressions NotIn [x]" '* !*>x/a:* y/*>x/a:* z/*>x/a:*' \
  < <(np a-notin x "$A" 'ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}}]}]')
scenario "a port without a peer: x/a takes TCP 80 from anyone" '* !*>x/a:* *>x/a:tcp/80' \
  < <(np a-port x "$A" 'ingress: [{ports: [{port: 80}]}]')
scenario "protocol UDP: x/a takes UDP 81 only" '* !*>x/a:* *>x/a:udp/81' \
  < <(np a-udp x "$A" 'ingress: [{ports: [{protocol: UDP, port: 81}]}]')
scenario "endPort: x/a takes TCP 80-81" '* !*>x/a:* *>x/a:tcp/*' \
  < <(np a-range x "$A" 'ingress: [{ports: [{port: 80, endPort: 81}]}]')
scenario "named port serve-81-tcp resolves on the destination" '* !*>x/a:* *>x/a:tcp/81' \
  < <(np a-named x "$A" 'ingress: [{ports: [{port: serve-81-tcp}]}]')
scenario "ipBlock with except (y/b's /24 carved out)" '* !*>x/a:* *>x/a:* !y/b>x/a:*' \
  < <(np a-cidr x "$A" 'ingress: [{from: [{ipBlock: {cidr: 10.77.0.0/16, except: [10.77.5.0/24]}}]}]')
scenario "egress to a port with no peer: x/a reaches TCP 80 only" '* !x/a>*:* x/a>*:tcp/80' \
  < <(np a-egress x "$A" 'policyTypes: [Egress]' 'egress: [{ports: [{port: 80}]}]')
scenario "egress on one named port, no peer: x's pods reach serve-80-tcp (TCP 80) of every pod" \
  '* !x/*>*:* x/*>*:tcp/80' < <(np named-egress x 'podSelector: {}' 'policyTypes: [Egress]' 'egress: [{ports: [{port: serve-80-tcp}]}]')
scenario "egress: [] with no policyTypes is Ingress alone: x denies ingress, sends anywhere" '* !*>x/*:*' \
  < <(np empty-egress x 'podSelector: {}' 'egress: []')
scenario "both ends must allow: x/a out only to y, y/b in only from z" \
  '* !x/a>*:* x/a>y/*:* !*>y/b:* z/*>y/b:*' < <(
  np a-to-y x "$A" 'policyTypes: [Egress]' 'egress: [{to: [{namespaceSelector: {matchLabels: {ns: y}}}]}]'
  np b-from-z y 'podSelector: {matchLabels: {pod: b}}' 'ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}}]}]')

# updates of a policy and of labels re-converge
np a-from x "$A" 'ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]' >"$work/from-b.yaml"
scenario "policy update, before: x/a from pod=b" '* !*>x/a:* x/b>x/a:*' <"$work/from-b.yaml"
sed 's/pod: b}}}/pod: c}}}/' "$work/from-b.yaml" >"$work/from-c.yaml"
expect_ok "update the policy in place: pod=c" lab_zs apply -f "$work/from-c.yaml"
cp "$work/from-c.yaml" "$work/applied.yaml"
check "policy update, after: x/a from pod=c" '* !*>x/a:* x/c>x/a:*'
sed 's/name: b, namespace: x, labels: {pod: b}/name: b, namespace: x, labels: {pod: c}/' "$(lab_dir)/lab.yaml" >"$work/relabel.yaml"
expect_ok "relabel x/b as pod=c" lab_zs apply -f "$work/relabel.yaml"
check "pod label change: x/b now reaches x/a" '* !*>x/a:* x/c>x/a:* x/b>x/a:*'
expect_ok "labels back" lab_zs apply -f "$(lab_dir)/lab.yaml"
scenario "namespace label change, before: x/a from ns=y" '* !*>x/a:* y/*>x/a:*' \
  < <(np a-from-y x "$A" 'ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]')
sed 's/name: z, labels: {ns: z}/name: z, labels: {ns: y}/' "$(lab_dir)/lab.yaml" >"$work/ns-relabel.yaml"
expect_ok "relabel namespace z as ns=y" lab_zs apply -f "$work/ns-relabel.yaml"
check "namespace label change: z's pods now reach x/a" '* !*>x/a:* y/*>x/a:* z/*>x/a:*'
expect_ok "labels back" lab_zs apply -f "$(lab_dir)/lab.yaml"

expect_ok "delete the last policies" lab_zs delete -f "$work/applied.yaml"
check "no policy again" '*'

lab_down
rm -rf "$work"
trap - EXIT
e2e_nothing_left "$LAB" "$(lab_pin)"
e2e_summary
