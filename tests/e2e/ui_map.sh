#!/usr/bin/env bash
# The live map (`zeroseg agent --ui-listen`) against the lab with real
# traffic: the three-tier policy, allowed and denied flows across four
# namespaces, a scan (alerts) and a quarantine. Checks the listener (bound
# to loopback by default, GET only, clear 400s), then opens the page in a
# real browser (Debian's chromium, headless, tests/e2e/map_browser.py) and
# checks the nodes and edges drawn against `zeroseg flows -o json`, clicks
# an edge, and saves a screenshot (ARTEFACT_DIR/map.png; with
# ZS_MAP_DOCS=1 also docs/img/map.png).
#
# Usage: ui_map.sh PATH/TO/zeroseg ARTEFACT_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
for need in chromium /usr/bin/python3; do
  command -v "$need" >/dev/null || e2e_skip "$need missing (scripts/install-deps.sh installs it)"
done
/usr/bin/python3 -c 'import websockets' 2>/dev/null || e2e_skip "python3-websockets missing (scripts/install-deps.sh)"

ZEROSEG=$(realpath "$1")
artefacts=$(realpath "${2:-.}")
LAB=zs-m$(($$ % 1000))
# a bare :PORT: the map binds loopback unless told otherwise
LAB_AGENT_YAML='ui-listen: ":9000"'
# shellcheck source=../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
work=$(mktemp -d)
trap 'lab_down; rm -rf "$work"' EXIT
in_node() { nsenter --net="/run/netns/$(lab_node)" "$@"; }
http() {  # METHOD PATH: "STATUS BODY"
  rm -f "$work/body"
  local data=()
  [ "$1" = GET ] || data=(-H 'Content-Type: application/json' -d '{}')
  in_node curl -s -m 5 -o "$work/body" -w '%{http_code}' -X "$1" "${data[@]}" "http://127.0.0.1:9000$2"
  printf ' %s' "$(head -c 400 "$work/body" 2>/dev/null)"
}

echo "== lab $LAB up with --ui-listen :9000, the three-tier policy, traffic"
lab_up || { fail "lab up"; exit 1; }
lab_zs apply -f "$root/policies/three-tier.yaml" >/dev/null || { fail "apply three-tier"; exit 1; }
for p in "guest/attacker prod/web http" "prod/web prod/app tcp 8080" "prod/app prod/db tcp 5432" \
         "mgmt/bastion prod/app tcp 22" "prod/web prod/app tcp 8080 6"; do
  # shellcheck disable=SC2086
  lab_probe $p || true
done
for p in "guest/attacker prod/db tcp 5432" "dev/web prod/db tcp 5432" "guest/attacker prod/app tcp 8080" \
         "dev/web prod/app tcp 22"; do
  # shellcheck disable=SC2086
  ! lab_probe $p || fail "$p should be denied"
done
lab_exec prod/web nmap -sT -Pn -n --max-retries 0 --host-timeout 20s -p 1-40 10.77.3.2 >/dev/null 2>&1 || true
lab_zs quarantine add dev/web --expires 1h >/dev/null || fail "quarantine dev/web"
sleep 2

echo "== the listener"
listening=$(in_node ss -Hltn 'sport = :9000' | awk '{print $4}')
expect_eq "':9000' listens on loopback only" "$listening" "127.0.0.1:9000"
expect_contains "GET /api/graph answers" "$(http GET /api/graph)" "200 {"
for m in POST PUT DELETE PATCH; do
  expect_contains "$m is refused: the map is read-only" "$(http $m /api/graph)" "405"
done
expect_contains "POST to the API's apply is not served here" "$(http POST /v1/apply)" "405"
expect_contains "a bad filter is a clear 400" "$(http GET '/api/graph?verdict=nope')" "400 {\"error\":\"verdict: expected allowed, denied or audit\"}"
expect_contains "a bad edge is a clear 400" "$(http GET '/api/edge?from=x&to=1')" "400"
expect_contains "the page is served from the binary" "$(http GET /)" "200 <!DOCTYPE html>"
expect_contains "quarantined dev/web is marked" "$(in_node curl -s http://127.0.0.1:9000/api/graph)" '"quarantined":true'
expect_contains "the scan raised alerts, on the map" "$(in_node curl -s http://127.0.0.1:9000/api/graph)" '"detector":"port-scan"'

echo "== in a real browser"
lab_zs flows --last 10000 -o json >"$work/flows.json" || fail "zeroseg flows -o json"
mkdir -p "$artefacts"
ZS_FLOWS_CMD="$ZEROSEG flows --last 10000 -o json --socket $(lab_socket)"
export ZS_FLOWS_CMD
if in_node /usr/bin/python3 "$here/map_browser.py" http://127.0.0.1:9000/ "$work/flows.json" "$artefacts/map.png"; then
  pass "the browser checks (above)"
else
  fail "the browser checks (above)"
fi
if [ "${ZS_MAP_DOCS:-0}" = 1 ] && [ -s "$artefacts/map.png" ]; then cp "$artefacts/map.png" "$root/docs/img/map.png"; fi

echo "== down, and nothing left"
lab_down
trap - EXIT
rm -rf "$work"
e2e_nothing_left "$LAB" "$(lab_pin)"
e2e_summary
