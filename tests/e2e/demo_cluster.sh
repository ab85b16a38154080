#!/usr/bin/env bash
# e2e.demo_cluster: `scripts/demo.sh --cluster` passes, and what it claims is
# checked from outside it: against the agents' own records (each node's flow
# log, alerts and workload list, copied by the demo before the lab comes
# down: DEMO_EVIDENCE), not only against its exit code and words.
#
# Checks: the demo exits 0, shows its 8 steps, flags nothing, and its output
# (not a terminal here) holds no escape byte (on a terminal its colours are
# on, and off with NO_COLOR); the nodes number every workload
# alike (the added api-2 as api); node 1 denied guest (node 3) and let client
# (node 3) in, each by its cluster-wide identity; node 2 let web (node 1) reach
# the added api-2 and denied db (node 1) by db's identity; node 1 judged api
# (node 2) as world after node 2's agent died, and by api's identity again
# after it rejoined; node 2 raised a port-scan alert naming web (node 1); node
# 3 let web in, then denied it by the quarantine, then let it in again;
# afterwards no namespace, link, process, pin, run or etcd data directory of
# the lab is left.
#
# Usage: demo_cluster.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
command -v etcd >/dev/null || e2e_skip "needs etcd (Debian's etcd-server; scripts/install-deps.sh installs it)"
command -v nmap >/dev/null || e2e_skip "needs nmap (scripts/install-deps.sh installs it)"
ZEROSEG=$(realpath "$1")
# the longest name a lab takes (11 characters): what the demo prints must keep its columns
lab=zs-cd$(printf %06d $(($$ % 1000000)))
evidence=$(mktemp -d)
trap 'rm -rf "$evidence"' EXIT

out=$(ZEROSEG=$ZEROSEG DEMO_LAB=$lab DEMO_EVIDENCE=$evidence bash "$here/../../scripts/demo.sh" --cluster 2>&1)
rc=$?
printf '%s\n' "$out"
echo "== the demo's own account"
expect_eq "the demo exits 0" "$rc" 0
expect_eq "it shows its 8 steps" "$(grep -c '^==> [1-8]/8 ' <<<"$out")" 8
# its flags: a line of its own "    <- ...", or "  <- expected ..." after a verdict
expect_eq "it flags nothing" "$(grep -cE -e '^    <- |  <- expected' -e 'did not hold' <<<"$out")" 0
expect_contains "it ends saying so" "$out" "demo done: every step held"
# a person reads it: no Python or JSON literal leaks into a sentence
expect_eq "no True/False/None/null in its words" "$(grep -cwE 'True|False|None|null' <<<"$out")" 0
expect_eq "no escape byte in its output, which is not a terminal" "$(grep -c $'\033' <<<"$out")" 0
# the lab's workload lines (name, interface, addresses): the addresses in one
# column, apart from the interfaces (named after the lab) by two spaces or more
wl=$(grep -E "^ +(prod|guest)/[a-z0-9-]+ +$lab-[0-9]w[0-9] " <<<"$out" || true)
expect_eq "it lists the lab's 6 workloads" "$(grep -c . <<<"$wl")" 6
expect_eq "their interfaces stand apart from their addresses" "$(grep -cE "$lab-[0-9]w[0-9]  +10\.8" <<<"$wl")" 6
expect_eq "their addresses start in one column" "$(awk '{print index($0, " 10.8")}' <<<"$wl" | sort -u | wc -l)" 1
# on a terminal (script(1) gives one) the demo's colours (scripts/lib/colour.sh,
# which it sources) are on, and NO_COLOR turns them off
colours() {
  NO_COLOR=$1 TERM=xterm script -qec "bash -c 'source $here/../../scripts/lib/colour.sh; [ -n \"\$bold\" ] && echo on || echo off'" /dev/null | tr -d '\r'
}
expect_eq "on a terminal its colours are on" "$(colours '')" on
expect_eq "and NO_COLOR=1 turns them off" "$(colours 1)" off

echo "== its claims, against the agents' records"
for f in flows-n1 flows-n2 flows-n3 alerts-n2 workloads-n1 workloads-n2 workloads-n3; do
  expect_ok "the demo kept $f.json" test -s "$evidence/$f.json"
done
# each line of the checker: "ok|FAIL DESCRIPTION"
python3 - "$evidence" <<'PY' >"$evidence/verdicts"
import json, os, sys
ev = sys.argv[1]
def lines(name):
    out = []
    try:
        with open(os.path.join(ev, name)) as f:
            for line in f:
                try: out.append(json.loads(line))
                except ValueError: pass
    except OSError: pass
    return out
def doc(name):
    try:
        with open(os.path.join(ev, name)) as f: return json.load(f)
    except (OSError, ValueError): return []
def check(what, ok): print(("ok" if ok else "FAIL") + " " + what)

ids = [{w["namespace"] + "/" + w["name"]: w["identity"] for w in doc("workloads-n%d.json" % n)} for n in (1, 2, 3)]
check("node 1 knows the 7 workloads (api-2 added on node 2)", len(ids[0]) == 7)
check("nodes 2 and 3 number them as node 1", ids[0] == ids[1] == ids[2])
check("api-2 has api's identity (the same labels)", ids[0].get("prod/api-2") not in (None, 0) and ids[0].get("prod/api-2") == ids[0].get("prod/api"))
idn = ids[0].get
ip = {"web": "10.81.1.2", "db": "10.81.2.2", "api": "10.82.1.2", "api-2": "10.82.3.2", "client": "10.83.1.2", "guest": "10.83.2.2"}

def find(flows, src, dst, port, verdict, identity=None, after="", why=""):
    """the first record src -> dst:port with this verdict (deny records or
    flow starts), later than `after`, whose source identity is identity"""
    for f in flows:
        s, d = f.get("source", {}), f.get("destination", {})
        if (s.get("ip") == ip[src] and d.get("ip") == ip[dst] and d.get("port") == port
                and f.get("verdict") == verdict and f.get("event") in ("deny", "flow-start")
                and f.get("time", "") > after and (identity is None or s.get("identity") == identity)
                and why in f.get("why", "")):
            return f.get("time")
    return None

n1, n2, n3 = lines("flows-n1.json"), lines("flows-n2.json"), lines("flows-n3.json")
check("node 1 denied guest (node 3) -> web:80 by guest's identity (%s)" % idn("guest/guest"),
      find(n1, "guest", "web", 80, "denied", idn("guest/guest"), why="SegmentPolicy/prod/web-in") is not None)
check("node 1 let client (node 3) -> web:80 in by client's identity (%s)" % idn("prod/client"),
      find(n1, "client", "web", 80, "allowed", idn("prod/client")) is not None)
check("node 2 let web (node 1) -> api-2:8080 in by web's identity (%s)" % idn("prod/web"),
      find(n2, "web", "api-2", 8080, "allowed", idn("prod/web")) is not None)
check("node 2 denied db (node 1) -> api-2:8080 by db's identity (%s)" % idn("prod/db"),
      find(n2, "db", "api-2", 8080, "denied", idn("prod/db")) is not None)
world = find(n1, "api", "web", 80, "denied", 2)
check("node 1 denied api (node 2) -> web:80 as world (2), node 2's agent dead", world is not None)
check("and let api in by its identity (%s) again once node 2 rejoined" % idn("prod/api"),
      world is not None and find(n1, "api", "web", 80, "allowed", idn("prod/api"), after=world) is not None)
scans = [a for a in doc("alerts-n2.json") if isinstance(a, dict)] or lines("alerts-n2.json")
check("node 2 raised a port-scan alert naming web (node 1) by its identity",
      any(a.get("detector") == "port-scan" and a.get("source", {}).get("ip") == ip["web"]
          and a["source"].get("name") == "prod/web" and a["source"].get("identity") == idn("prod/web") for a in scans))
before = find(n3, "web", "client", 8080, "allowed", idn("prod/web"))
cut = before and find(n3, "web", "client", 8080, "denied", idn("prod/web"), after=before, why="Quarantine")
check("node 3 let web (node 1) -> client:8080 in", before is not None)
check("then denied it by the quarantine", bool(cut))
check("then let it in again, released", bool(cut) and find(n3, "web", "client", 8080, "allowed", after=cut) is not None)
PY
while read -r verdict what; do
  if [ "$verdict" = ok ]; then pass "$what"; else fail "$what"; fi
done <"$evidence/verdicts"
expect_eq "the checker ran its 13 checks" "$(grep -c . "$evidence/verdicts")" 13

echo "== nothing left behind"
e2e_nothing_left "$lab" "/sys/fs/bpf/$lab-n1"
for n in 2 3; do expect_ok "node $n's pin dir removed" test ! -e "/sys/fs/bpf/$lab-n$n"; done
expect_ok "the lab's run directory (etcd's data, agents' state) removed" test ! -e "/run/zeroseg/$lab"
expect_eq "no etcd of the lab runs" "$(pgrep -fc -- "--name $lab-etcd" || true)" 0
e2e_summary
