#!/usr/bin/env bash
# The lab's connectivity matrix: every workload to every workload, TCP on
# the service ports, UDP/53, ICMP, IPv4 and IPv6, compared with a matrix
# written below: with no policy, under the three-tier policy, under the
# same policy in audit mode, after a label change, after delete. Then the
# lab comes down and nothing of it may remain.
#
# Usage: lab_matrix.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
LAB=zs-m$(($$ % 1000))
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
work=$(mktemp -d)
trap 'lab_down; rm -rf "$work"' EXIT

WORKLOADS=(prod/web prod/app prod/db dev/web mgmt/bastion guest/attacker)
PROBES=(tcp/22 tcp/80 tcp/5432 tcp/8080 udp/53 icmp)

# The expected matrices: patterns (globs) of "SRC>DST:PROBE" that pass;
# every other probe must fail. Both families are expected alike.
ALL='*'
THREE_TIER='
  *>dev/web:*  *>mgmt/bastion:*  *>guest/attacker:*
  *>prod/web:tcp/80  *>prod/web:icmp  mgmt/bastion>prod/web:tcp/22
  prod/web>prod/app:tcp/8080  mgmt/bastion>prod/app:tcp/22
  prod/app>prod/db:tcp/5432  mgmt/bastion>prod/db:tcp/22'
# prod/app relabelled tier=app-v2: the app policy no longer selects it
# (admin-ssh still does), and db no longer takes it
RELABELLED='
  *>dev/web:*  *>mgmt/bastion:*  *>guest/attacker:*
  *>prod/web:tcp/80  *>prod/web:icmp  mgmt/bastion>prod/web:tcp/22
  mgmt/bastion>prod/app:tcp/22
  mgmt/bastion>prod/db:tcp/22'

probe_one() {  # SRC DST PROBE FAMILY -> pass|fail into the results dir
  local proto=${3%%/*} port=${3#*/}
  [ "$proto" = icmp ] && port=0
  if lab_probe "$1" "$2" "$proto" "$port" "$4"; then echo pass; else echo fail; fi \
    >"$work/results/${1//\//_}>${2//\//_}:${3//\//_}:$4"
}

matrix() {  # NAME PATTERNS
  local name=$1 patterns=$2 s d p f key got want pat bad="" n=0 pids=()
  rm -rf "$work/results"; mkdir -p "$work/results"
  # the probes only: a bare `wait` would wait for the lab's services too
  for s in "${WORKLOADS[@]}"; do for d in "${WORKLOADS[@]}"; do [ "$s" = "$d" ] && continue
    for p in "${PROBES[@]}"; do for f in 4 6; do
      probe_one "$s" "$d" "$p" "$f" &
      pids+=($!)
      n=$((n + 1))
      if [ ${#pids[@]} -ge 48 ]; then wait "${pids[@]}"; pids=(); fi
    done; done
  done; done
  [ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
  for s in "${WORKLOADS[@]}"; do for d in "${WORKLOADS[@]}"; do [ "$s" = "$d" ] && continue
    for p in "${PROBES[@]}"; do for f in 4 6; do
      key="$s>$d:$p"
      want=fail
      set -f
      for pat in $patterns; do
        # shellcheck disable=SC2053
        [[ $key == $pat ]] && want=pass
      done
      set +f
      got=$(cat "$work/results/${s//\//_}>${d//\//_}:${p//\//_}:$f")
      [ "$got" = "$want" ] || bad+=" $key(IPv$f: $got, wanted $want)"
    done; done
  done; done
  if [ -z "$bad" ]; then pass "matrix: $name ($n probes)"; else fail "matrix: $name:$bad"; fi
}

echo "== lab $LAB up"
lab_up || { fail "lab up"; exit 1; }

echo "== no policy"
matrix "no policy: a flat network" "$ALL"

echo "== three-tier"
expect_ok "apply policies/three-tier.yaml" lab_zs apply -f "$root/policies/three-tier.yaml"
matrix "three-tier" "$THREE_TIER"
# the README's tour: two policies select prod/db for ingress (db, admin-ssh),
# and the trace says so in the plural, as the flow log does
out=$(lab_zs policy trace --from guest/attacker --to prod/db --port 5432/tcp)
if [[ $out == *"SegmentPolicy/prod/db, SegmentPolicy/prod/admin-ssh select prod/db for ingress"* ]]; then
  pass "trace attacker -> db names both policies that select db"
else fail "trace attacker -> db: $out"; fi
# status lists the interfaces in ifindex order (the kernel's hash map has none)
ifx=$(lab_zs status | awk '$3 == "workload" {print $2}')
expect_eq "status lists the six interfaces" "$(wc -l <<<"$ifx")" 6
expect_eq "status lists them by ifindex" "$(tr '\n' ' ' <<<"$ifx")" "$(sort -n <<<"$ifx" | tr '\n' ' ')"

echo "== three-tier in audit mode"
sed 's/^spec:$/spec:\n  mode: audit/' "$root/policies/three-tier.yaml" >"$work/audit.yaml"
expect_ok "apply three-tier with mode: audit" lab_zs apply -f "$work/audit.yaml"
matrix "audit: everything passes" "$ALL"
sleep 1
audits=$(lab_zs flows --from guest/attacker --to prod/db --port 5432 --verdict audit --last 100 -o json | wc -l)
if [ "$audits" -ge 1 ]; then pass "audit: the flow log says what enforce would drop ($audits records)"
else fail "audit: no audit records for guest/attacker -> prod/db:5432"; fi

echo "== label change"
expect_ok "enforce again" lab_zs apply -f "$root/policies/three-tier.yaml"
sed 's/name: app, namespace: prod, labels: {tier: app}/name: app, namespace: prod, labels: {tier: app-v2}/' \
  "$(lab_dir)/lab.yaml" >"$work/relabelled.yaml"
expect_ok "relabel prod/app tier=app-v2" lab_zs apply -f "$work/relabelled.yaml"
matrix "after the label change" "$RELABELLED"
expect_ok "label back" lab_zs apply -f "$(lab_dir)/lab.yaml"
matrix "label back: three-tier again" "$THREE_TIER"

echo "== delete"
expect_ok "delete policies/three-tier.yaml" lab_zs delete -f "$root/policies/three-tier.yaml"
matrix "after delete: a flat network again" "$ALL"

echo "== down, and nothing left"
agent=$(cat "$(lab_dir)/agent.pid")
lab_down
e2e_nothing_left "$LAB" "$(lab_pin)"
expect_fail "the agent is gone" kill -0 "$agent"
expect_fail "no lab directory" test -e "$(lab_dir)"
e2e_summary
