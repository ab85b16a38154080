#!/usr/bin/env bash
# Policy learning in the lab: the tiers' traffic flows with no policy;
# `policy diff -f three-tier.yaml` replays it and names what that draft
# would deny; `policy suggest` writes least-privilege policies from it;
# applied in enforce mode they drop none of the same traffic, and deny
# what was never seen.
#
# Usage: policy_learning.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root

ZEROSEG=$(realpath "$1")
LAB=zs-p$(($$ % 1000))
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
work=$(mktemp -d)
trap 'lab_down; rm -rf "$work"' EXIT

# The traffic to learn from (SRC DST PROTO PORT), both address families.
SEEN=(
  "prod/web prod/app tcp 8080"
  "prod/app prod/db tcp 5432"
  "mgmt/bastion prod/db tcp 22"
  "mgmt/bastion prod/web tcp 22"
  "guest/attacker prod/web tcp 80"
  "dev/web prod/db tcp 5432"
  "prod/web prod/app icmp 0"
  "prod/app prod/db udp 53"
)
run_seen() {  # every conversation of SEEN, each family: all must pass
  local s f src dst proto port bad=""
  for s in "${SEEN[@]}"; do
    read -r src dst proto port <<<"$s"
    for f in 4 6; do lab_probe "$src" "$dst" "$proto" "$port" $f || bad+=" $src>$dst:$proto/$port(IPv$f)"; done
  done
  [ -z "$bad" ] || { echo "  denied:$bad"; return 1; }
}

echo "== lab $LAB up, no policy: the traffic flows"
lab_up || { fail "lab up"; exit 1; }
expect_ok "all seen conversations pass (no policy)" run_seen
sleep 1

echo "== what-if: policy diff replays the seen flows against three-tier"
lab_zs policy diff -f "$root/policies/three-tier.yaml" -o json >"$work/diff.json"
python3 - "$work/diff.json" <<'PY' && pass "diff: three-tier would deny dev/web -> prod/db:5432, app -> db udp/53, web -> app ping; nothing else seen" || fail "diff: $(cat "$work/diff.json")"
import json, sys
r = json.load(open(sys.argv[1]))["replay"]
denied = sorted({(c["source"], c["destination"], c["protocol"], c["port"]) for c in r["newly_denied"]})
assert denied == [("dev/web", "prod/db", "tcp", 5432), ("prod/app", "prod/db", "udp", 53),
                  ("prod/web", "prod/app", "icmp", 8), ("prod/web", "prod/app", "icmpv6", 128)], denied
assert r["newly_allowed"] == [], r
assert r["conversations"] >= 16, r
PY
out=$(lab_zs policy diff -f "$root/policies/three-tier.yaml")
grep -q "would be denied" <<<"${out,,}" && grep -q "default deny at prod/db ingress" <<<"$out" \
  && pass "diff's table names the flows and why" || fail "diff output: $out"

echo "== suggest, apply, and the same traffic still flows"
lab_zs policy suggest >"$work/suggested.yaml"
expect_ok "the suggestion validates" lab_zs policy validate -f "$work/suggested.yaml"
grep -q "# 2 flows, last" "$work/suggested.yaml" && pass "each rule says how many flows it explains" \
  || fail "no flow counts in: $(cat "$work/suggested.yaml")"
n=$(grep -c "^kind: SegmentPolicy" "$work/suggested.yaml")
[ "$n" = 6 ] && pass "one policy per workload group (6)" || fail "$n policies suggested"
expect_ok "apply the suggestion (enforce)" lab_zs apply -f "$work/suggested.yaml"
expect_ok "all seen conversations still pass under the suggestion" run_seen
expect_fail "unseen: guest/attacker -> prod/db:5432 is denied" lab_probe guest/attacker prod/db tcp 5432
expect_fail "unseen: prod/web -> prod/db:5432 is denied" lab_probe prod/web prod/db tcp 5432
expect_fail "unseen: dev/web -> prod/app:8080 is denied" lab_probe dev/web prod/app tcp 8080
lab_zs policy suggest -n mgmt --since 1h >"$work/mgmt.yaml"
n=$(grep -c "^kind: SegmentPolicy" "$work/mgmt.yaml")
[ "$n" = 1 ] && grep -q "namespace: mgmt" "$work/mgmt.yaml" && pass "suggest -n mgmt: the bastion's policy only" \
  || fail "suggest -n mgmt: $(cat "$work/mgmt.yaml")"

echo "== down, and nothing left"
lab_down
trap - EXIT
rm -rf "$work"
e2e_nothing_left "$LAB" "$(lab_pin)"
e2e_summary
