#!/usr/bin/env bash
# Randomized differential test of Kubernetes NetworkPolicy semantics:
# random labels, named ports and policies (tests/e2e/netpol_gen.py) applied
# to the agent of a lab (namespaces x, y, z with pods a, b, c), zeroseg's
# verdicts (`policy trace` for every probe, real TCP/UDP packets over IPv4
# and IPv6 for some seeds) against an independent model of the Kubernetes
# rules (tests/e2e/netpol_model.py, itself checked by netpol_model_test.py).
#
# Usage: netpol_differential.sh PATH/TO/zeroseg
# Environment: ZEROSEG_NETPOL_SEEDS (20), ZEROSEG_NETPOL_PROBES (60 traces a
# seed), ZEROSEG_NETPOL_REAL_EVERY (5: real packets every 5th seed),
# ZEROSEG_NETPOL_BASE_SEED (random, printed), ZEROSEG_NETPOL_SEED (replay one)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
LAB=zs-d$(($$ % 1000))
LAB_WORKLOADS=()
for ns in x y z; do for pod in a b c; do LAB_WORKLOADS+=("$ns $pod pod=$pod"); done; done
LAB_NAMESPACES=(x y z)
declare -A LAB_NS_LABELS=([x]="ns: x" [y]="ns: y" [z]="ns: z")
LAB_TCP_PORTS=81,8080 LAB_UDP_PORTS=53,81  # and HTTP on TCP 80: netpol_differential.py's REAL_PORTS
LAB_PORTS_YAML='[]'
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
trap 'lab_down' EXIT

if python3 "$here/netpol_model_test.py" >/dev/null 2>&1; then pass "the model answers the documented cases"
else fail "the model fails its own cases: python3 $here/netpol_model_test.py"; fi

echo "== lab $LAB: x, y, z with pods a, b, c"
lab_up || { fail "lab up"; exit 1; }
# every pod answers on IPv4 and IPv6 before anyone judges packets
for p in x/a x/b x/c y/a y/b y/c z/a z/b z/c; do
  for _ in $(seq 50); do lab_exec "$p" ncat -z -w 1 ::1 81 2>/dev/null && break; sleep 0.1; done
done

args=(--zeroseg "$ZEROSEG" --socket "$(lab_socket)" --lab "$LAB")
[ -n "${ZEROSEG_NETPOL_BASE_SEED:-}" ] && args+=(--base-seed "$ZEROSEG_NETPOL_BASE_SEED")
if python3 "$here/netpol_differential.py" "${args[@]}"; then
  pass "zeroseg agrees with the Kubernetes model"
else
  fail "zeroseg and the Kubernetes model disagree (above: the seed, a minimal case, the probe)"
fi

lab_down
trap - EXIT
e2e_nothing_left "$LAB" "$(lab_pin)"
e2e_summary
