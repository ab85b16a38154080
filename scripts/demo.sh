#!/usr/bin/env bash
# zeroseg's demo: the namespace lab (scripts/lab.sh), the agent, the
# three-tier policy, real traffic, a scan from the attacker seen in the
# flows, and a compromised workload quarantined. Builds what it needs and
# cleans up after itself (also on Ctrl-C or failure). Non-interactive.
# With --cluster, the same story on three nodes with etcd (scripts/demo_cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ "${1:-}" != --cluster ] || exec bash "$root/scripts/demo_cluster.sh"

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (namespaces, BPF)" >&2; exit 1; }

# shellcheck source=lib/colour.sh
source scripts/lib/colour.sh
step=0
STEPS=7
say() { step=$((step + 1)); printf '\n%s==> %d/%d %s%s\n' "$bold" "$step" "$STEPS" "$*" "$plain"; }
note() { printf '    %s\n' "$*"; }
indent() { sed 's/^/    /'; }

say "build"
# ZEROSEG names a binary built elsewhere (the tests run the demo that way)
if [ -z "${ZEROSEG:-}" ]; then
  if [ ! -x build/userspace/zeroseg ] || ! command -v nmap >/dev/null; then
    bash scripts/install-deps.sh
    cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
  fi
  ZEROSEG=$root/build/userspace/zeroseg
fi
# shellcheck disable=SC2034  # read by lib/lab.sh
LAB=${DEMO_LAB:-zs-demo}  # DEMO_LAB: another name, to run beside another demo or a test
# shellcheck source=lib/lab.sh
source scripts/lib/lab.sh
note "$("$ZEROSEG" --version)"

cleanup() {
  [ -n "${conn_pid:-}" ] && kill "$conn_pid" 2>/dev/null
  rm -rf "${fifo_dir:-}"
  lab_down
}
trap cleanup EXIT
trap 'echo "demo.sh: failed at line $LINENO" >&2' ERR
trap 'exit 130' INT TERM
lab_down  # a run interrupted before

# probe EXPECTED DESCRIPTION SRC DST PROTO [PORT] [FAMILY]: one aligned
# line; a verdict other than EXPECTED is flagged and fails the demo
unexpected=0
probe() {
  local want=$1 what=$2 got=denied color=$red
  shift 2
  if lab_probe "$@"; then got=allowed color=$green; fi
  printf '    %-44s %s%s%s' "$what" "$color" "$got" "$plain"
  if [ "$got" != "$want" ]; then printf '  %s<- expected %s%s' "$boldred" "$want" "$plain"; unexpected=$((unexpected + 1)); fi
  printf '\n'
}
probes() {  # the verdicts expected of: a flat network (flat) or three-tier
  local d=allowed; [ "$1" = flat ] || d=denied
  probe allowed "guest/attacker -> prod/web    http"        guest/attacker prod/web http
  probe $d      "guest/attacker -> prod/db     tcp/5432"    guest/attacker prod/db tcp 5432
  probe allowed "prod/web       -> prod/app    tcp/8080"    prod/web prod/app tcp 8080
  probe allowed "prod/app       -> prod/db     tcp/5432 v6" prod/app prod/db tcp 5432 6
  probe $d      "dev/web        -> prod/db     tcp/5432"    dev/web prod/db tcp 5432
  probe allowed "mgmt/bastion   -> prod/app    ssh"         mgmt/bastion prod/app tcp 22
}

say "lab: namespaces prod (web, app, db), dev (web), mgmt (bastion), guest (attacker); the agent on the node"
lab_up
lab_status | indent
note ""
note "no policy yet: a flat network, everyone reaches everything"
probes flat

say "apply policies/three-tier.yaml: web <- anyone, app <- web, db <- app, ssh <- bastion, dev never reaches db"
lab_zs apply -f policies/three-tier.yaml | indent
applied=$(date +%s)
probes three-tier
note ""
note "the flows into prod/db since, with the rule (or the default deny) that decided each:"
lab_zs flows --to prod/db --since "$(($(date +%s) - applied + 1))s" | grep -v -e "no policy selects" -e "  end  " | indent

say "prod/web is compromised: from inside, it scans its neighbours (nmap -sT, ports 1-100 of app and db)"
lab_exec prod/web nmap -sT -Pn -n --max-retries 0 --host-timeout 30s -p 1-100 10.77.2.2 10.77.3.2 2>&1 |
  grep -E "^Nmap scan report|/tcp +open" | indent || true
note "(only what the policy lets web reach answers: the scan finds nothing else)"
sleep 1
note ""
note "the alerts (zeroseg alerts), with the flows as evidence:"
lab_zs alerts | indent
alerts=$(lab_zs alerts -o json)
if ! grep -q '"detector":"port-scan".*"name":"prod/web"' <<<"$alerts"; then
  note "no port-scan alert from prod/web  <- expected one"
  unexpected=$((unexpected + 1))
fi
# (from the variable: a `| head` would cut the CLI's pipe and, with pipefail, the demo)
python3 -c 'import json, sys; print("evidence: " + "; ".join(json.loads(sys.stdin.readline())["evidence"][:3]) + " ...")' \
  <<<"$alerts" | indent

say "zeroseg quarantine add prod/web --expires 1h: only mgmt (the lab's management prefix) may reach it"
fifo_dir=$(mktemp -d)
mkfifo "$fifo_dir/in" "$fifo_dir/out"
lab_exec prod/web ncat 10.77.2.2 8080 <"$fifo_dir/in" >"$fifo_dir/out" &
conn_pid=$!
exec 7>"$fifo_dir/in" 8<"$fifo_dir/out"
echo_line() { echo "$1" >&7 && IFS= read -r -t 2 reply <&8 && [ "$reply" = "$1" ]; }
if echo_line hello; then note "an open connection prod/web -> prod/app:8080 echoes"; fi
lab_zs quarantine add prod/web --expires 1h | indent
lab_zs quarantine list | indent
if echo_line again; then
  note "the open connection still echoes  <- expected it cut"
  unexpected=$((unexpected + 1))
else
  note "the open connection is cut at once (its flow was judged again)"
fi
probe denied  "prod/web       -> prod/app    tcp/8080"    prod/web prod/app tcp 8080
probe denied  "guest/attacker -> prod/web    http"        guest/attacker prod/web http
probe allowed "mgmt/bastion   -> prod/web    ssh"         mgmt/bastion prod/web tcp 22

say "zeroseg quarantine remove prod/web: its identity and the tier's rules apply again"
lab_zs quarantine remove prod/web | indent
probe allowed "prod/web       -> prod/app    tcp/8080"    prod/web prod/app tcp 8080
probe allowed "guest/attacker -> prod/web    http"        guest/attacker prod/web http

say "status and metrics"
status=$(lab_zs status) || note "zeroseg status exited $? (1: degraded, 2: no agent; see docs/cli.md)"
sed -n '1,3p' <<<"$status" | indent
metrics=$(nsenter --net="/run/netns/$(lab_node)" curl -s http://127.0.0.1:9464/metrics)
grep -E '^zeroseg_(flows_started_total|flow_denies_total|conntrack_revoked_total|policy_revision) ' <<<"$metrics" | indent
if [ "$unexpected" -gt 0 ]; then
  printf '\ndemo: %d verdicts were not what the policy says: see the flagged lines\n' "$unexpected"
  exit 1
fi
printf '\ndemo done: cleaning up the lab\n'
