#!/usr/bin/env bash
# Flow telemetry end to end: real traffic through an enforcing node, then
# the flow log, `zeroseg flows` (recent and --follow), Prometheus /metrics
# (checked by promtool), IPFIX received by nfcapd and read back by nfdump,
# and a burst of short flows that must each appear exactly once as a start
# and once as an end (or be counted as lost).
#
# Usage: telemetry.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=../../scripts/lib/topology.sh
source "$here/../../scripts/lib/topology.sh"
e2e_require_root
for tool in promtool nfcapd nfdump curl python3; do
  command -v $tool >/dev/null || { echo "FAIL: $tool is missing (scripts/install-deps.sh installs it)"; exit 1; }
done

ZS=$(realpath "$1")
tag=zs-t$(($$ % 100000))
NODE=$tag-n
work=$(mktemp -d)
SOCK=$work/zeroseg.sock PIN=/sys/fs/bpf/$tag FLOWS=$work/flows.json
IPFIX_PORT=$((20000 + $$ % 20000))
agent_pid='' nfcapd_pid=''

cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "$nfcapd_pid" ] && kill "$nfcapd_pid" 2>/dev/null && wait "$nfcapd_pid" 2>/dev/null
  topo_down "$tag" "$ZS" "$PIN"
  rm -rf "$work"
}
trap cleanup EXIT

in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
zs() { in_node "$ZS" "$@" --socket "$SOCK"; }
# flows_where PY_EXPR [FILE]: how many flow records f in the log satisfy PY_EXPR
flows_where() {
  python3 - "$1" "${2:-$FLOWS}" <<'PY'
import json, sys
expr, path = sys.argv[1], sys.argv[2]
n = 0
for line in open(path):
    f = json.loads(line)
    src, dst = f["source"], f["destination"]
    if eval(expr):
        n += 1
print(n)
PY
}
# expect_count DESCRIPTION WANT GOT
expect_count() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (wanted $2, got $3)"; fi; }
expect_at_least() { if [ "$3" -ge "$2" ]; then pass "$1"; else fail "$1 (wanted at least $2, got $3)"; fi; }

# --- lab: web 1, app 2, db 3 behind the node; services on web -------------
topo_node "$tag" || exit 1
declare -A IDX=([web]=1 [app]=2 [db]=3)
for w in web app db; do topo_workload "$tag" "$w" "${IDX[$w]}"; done
ip netns exec "$tag-web" ncat -lk 80 --exec /bin/cat >/dev/null 2>&1 &
ip netns exec "$tag-web" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(1024)
while True:
    c, _ = s.accept(); c.close()' &
for s in app db; do topo_warm "$tag" $s 1; done

mkdir -p "$work/ipfix"
# nsenter execs the program: $! is the process itself (a shell function would fork).
# A large receive buffer (-B, capped by net.core.rmem_max): the burst of short
# flows below sends ~100 messages at once, and nfcapd on a loaded machine may
# not be scheduled before the default 208 KiB fill up (the kernel then drops).
nsenter --net="/run/netns/$NODE" nfcapd -w "$work/ipfix" -p "$IPFIX_PORT" -b 127.0.0.1 -t 3600 -B 4194304 \
  >"$work/nfcapd.log" 2>&1 &
nfcapd_pid=$!
cat >"$work/agent.yaml" <<YAML
node-name: lab-node-1
flow-log: $FLOWS
metrics-listen: 127.0.0.1:0
ipfix-collector: 127.0.0.1:$IPFIX_PORT
ct-timeout-tcp-closing: 1s
ct-timeout-other: 2s
flow-sweep-interval: 300ms
YAML
nsenter --net="/run/netns/$NODE" "$ZS" agent --config "$work/agent.yaml" --socket "$SOCK" --bpf-pin-dir "$PIN" --state-dir "$work/state" \
  >"$work/agent.log" 2>&1 &
agent_pid=$!
# up once it serves (status with --bpf-pin-dir: the pins are
# ours); waits up to 60 s, the machine may be loaded
for _ in $(seq 600); do
  [ -S "$SOCK" ] && zs status --bpf-pin-dir "$PIN" >/dev/null 2>&1 && grep -q '/metrics' "$work/agent.log" && break
  sleep 0.1
done
METRICS=$(grep -o 'http://[^ ]*/metrics' "$work/agent.log")
[ -n "$METRICS" ] || { echo "agent did not come up:"; cat "$work/agent.log"; exit 1; }

cat >"$work/objects.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: shop, labels: {tier: web}}
spec: {interface: $tag-webh, ips: [10.77.1.2, "fd77:1::2"]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: app, namespace: shop, labels: {tier: app}}
spec: {interface: $tag-apph, ips: [10.77.2.2, "fd77:2::2"]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: db, namespace: shop, labels: {tier: db}}
spec: {interface: $tag-dbh, ips: [10.77.3.2, "fd77:3::2"]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {tier: web}}
  ingress: [{from: [{podSelector: {matchLabels: {tier: app}}}], ports: [{port: 80}, {port: 8080}]}]
YAML
expect_ok "apply the lab's objects" zs apply -f "$work/objects.yaml"

# --- a live stream, started before the traffic ----------------------------
nsenter --net="/run/netns/$NODE" "$ZS" flows --socket "$SOCK" --follow --last 0 -o json --from shop/app --to tier=web --port 80 \
  >"$work/follow.json" 2>&1 &
follow_pid=$!
sleep 0.5

echo "== traffic: app -> web:80 (allowed), app -> web:81 and db -> web (denied)"
ip netns exec "$tag-app" bash -c "echo hello | ncat -w 1 10.77.1.2 80" >/dev/null 2>&1
ip netns exec "$tag-app" ncat -z -w 1 10.77.1.2 81 >/dev/null 2>&1
ip netns exec "$tag-db" ping -c 1 -W 1 10.77.1.2 >/dev/null 2>&1
sleep 2.5   # closing timeout 1s, sweeps every 300ms

echo "== the flow log"
web_in='f["interface"]=="'$tag-webh'" and f["direction"]=="ingress"'
expect_count "one start of app -> web:80, allowed by the NetworkPolicy's rule" 1 \
  "$(flows_where "$web_in and f['event']=='flow-start' and dst.get('port')==80 and f['verdict']=='allowed' \
     and f['rule']=='NetworkPolicy/shop/web ingress[0]' and src['name']=='shop/app' and src['labels'].get('tier')=='app' \
     and dst['name']=='shop/web' and f['node']=='lab-node-1' and 'SYN' in f['tcp_flags']")"
expect_count "one end of it: closed, packets and bytes both ways, flags seen" 1 \
  "$(flows_where "$web_in and f['event']=='flow-end' and dst.get('port')==80 and f['end_reason']=='closed' \
     and f['packets']['forward']>=3 and f['packets']['reply']>=2 and f['bytes']['reply']>0 and 'FIN' in f['tcp_flags']")"
expect_at_least "app -> web:81 denied by default deny, naming the policy that selects web" 1 \
  "$(flows_where "$web_in and f['event']=='deny' and dst.get('port')==81 and f['verdict']=='denied' \
     and f['reason']=='default-deny' and 'NetworkPolicy/shop/web selects shop/web for ingress' in f['why']")"
expect_count "db -> web ping denied, with its ICMP type" 1 \
  "$(flows_where "$web_in and f['event']=='deny' and f['protocol']=='icmp' and f['icmp']['type']==8 \
     and src['name']=='shop/db'")"
expect_count "no deny was recorded for the allowed flow" 0 \
  "$(flows_where "f['event']=='deny' and dst.get('port')==80")"

echo "== flow ids and Community IDs"
# every record has both; the flow's start and end at one interface share a
# flow id; its records at both interfaces (app's egress, web's ingress) and
# both directions share one Community ID, computed here again from the
# spec (github.com/corelight/community-id-spec) by Python's own SHA-1
python3 - "$FLOWS" "$tag-webh" "$tag-apph" >"$work/ids.txt" <<'PY'
import base64, hashlib, ipaddress, json, struct, sys
path, web, app = sys.argv[1:]
def cid(f):
    s, d = ipaddress.ip_address(f["source"]["ip"]), ipaddress.ip_address(f["destination"]["ip"])
    proto = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmpv6": 58}.get(f["protocol"]) or int(f["protocol"])
    sp, dp = f["source"].get("port", 0), f["destination"].get("port", 0)
    if proto in (1, 58):
        t, c = f["icmp"]["type"], f["icmp"]["code"]
        pair = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17} if proto == 1 else \
               {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144}
        sp, dp, one_way = (t, pair[t], False) if t in pair else (t, c, True)
    else:
        one_way = False
    if not one_way and (s.packed, sp) > (d.packed, dp):
        s, d, sp, dp = d, s, dp, sp
    ports = struct.pack("!HH", sp, dp) if proto in (6, 17, 132, 1, 58) else b""
    data = struct.pack("!H", 0) + s.packed + d.packed + struct.pack("!BB", proto, 0) + ports
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()
recs = [json.loads(l) for l in open(path)]
missing = sum(1 for f in recs if not f.get("flow_id") or not f.get("community_id"))
wrong = sum(1 for f in recs if f.get("community_id") != cid(f))
flow80 = [f for f in recs if f["destination"].get("port") == 80 and f["protocol"] == "tcp"]
web_ids = {f.get("flow_id") for f in flow80 if f["interface"] == web}
app_ids = {f.get("flow_id") for f in flow80 if f["interface"] == app}
cids = {f.get("community_id") for f in flow80}
print(len(recs), missing, wrong, len(web_ids), len(app_ids), len(web_ids & app_ids), len(cids))
PY
read -r nrec missing wrong web_ids app_ids shared cids <"$work/ids.txt"
expect_at_least "records to check" 4 "$nrec"
expect_count "every record has a flow_id and a community_id" 0 "$missing"
expect_count "every community_id is the spec's, computed again from the record" 0 "$wrong"
expect_count "app -> web:80 at web: one flow id for its start and end" 1 "$web_ids"
expect_count "at app: one flow id, another than web's" "1 0" "$app_ids $shared"
expect_count "one Community ID for the flow at both interfaces" 1 "$cids"

echo "== zeroseg flows"
out=$(zs flows --to shop/web --verdict denied)
if grep -q "shop/app  *->  *shop/web:81  *tcp" <<<"$out" && grep -q "default deny" <<<"$out"; then
  pass "flows table: app -> web:81 denied, why"
else
  fail "flows table: $out"
fi
expect_count "flows -o json --port 81: only port 81" "$(zs flows -o json --port 81 | wc -l)" \
  "$(zs flows -o json --port 81 | grep -c '"port":81}')"
expect_count "flows --from 10.77.3.0/24 --protocol icmp -o json: the ping" 1 \
  "$(zs flows -o json --from 10.77.3.0/24 --protocol icmp --event deny | wc -l)"
expect_fail "flows --verdict maybe is refused" zs flows --verdict maybe
kill "$follow_pid" 2>/dev/null; wait "$follow_pid" 2>/dev/null
expect_count "flows --follow streamed app -> web:80 (start and end, at web and at app)" 4 \
  "$(flows_where "True" "$work/follow.json")"

echo "== metrics"
in_node curl -sf "$METRICS" -o "$work/metrics.txt" || fail "GET $METRICS"
if promtool check metrics <"$work/metrics.txt" >"$work/promtool.txt" 2>&1; then pass "promtool check metrics"
else fail "promtool check metrics: $(cat "$work/promtool.txt")"; fi
metric() { awk -v m="$1" '$1 == m {print $2}' "$work/metrics.txt"; }
expect_at_least "zeroseg_flow_denies_total counts the denies" 2 "$(metric zeroseg_flow_denies_total)"
expect_at_least "zeroseg_flows_ended_total{reason=\"closed\"}" 2 "$(metric 'zeroseg_flows_ended_total{reason="closed"}')"
expect_at_least "default-deny drops counted" 2 "$(metric 'zeroseg_drop_reason_packets_total{reason="default-deny"}')"
expect_count "policy revision exported" 1 "$(metric zeroseg_policy_revision)"
expect_count "endpoint map fill exported" 3 "$(metric 'zeroseg_map_entries{map="zs_endpoints"}')"
expect_count "events lost: none" 0 "$(metric zeroseg_events_lost_total)"
expect_count "build info" 1 "$(grep -c '^zeroseg_build_info{version="[0-9.]*",commit="[0-9a-z]*",' "$work/metrics.txt")"
expect_at_least "denies at web's ingress, enforced" 2 "$(metric 'zeroseg_dropped_packets_total{mode="enforce",direction="ingress"}')"
expect_count "no audit drops (nothing audits)" 0 "$(metric 'zeroseg_dropped_packets_total{mode="audit",direction="ingress"}')"
expect_at_least "process_open_fds" 3 "$(metric process_open_fds)"
expect_at_least "process_resident_memory_bytes (above 1 MiB)" 1048576 "$(metric process_resident_memory_bytes | cut -d. -f1)"
start=$(metric process_start_time_seconds | cut -d. -f1); now=$(date +%s)
if [ -n "$start" ] && [ "$start" -le "$now" ] && [ "$start" -gt $((now - 600)) ]; then pass "process_start_time_seconds: within the last 10 minutes"
else fail "process_start_time_seconds: $start (now $now)"; fi
expect_at_least "IPFIX messages counted" 1 "$(metric zeroseg_ipfix_messages_total)"
expect_count "no IPFIX send errors (nfcapd is up)" 0 "$(metric zeroseg_ipfix_send_errors_total)"
# the dashboard's and the alert rules' queries name metrics this agent
# exports (the cluster's only exist in cluster mode: cluster_basic.sh checks them)
if python3 "$here/../lint/metric_names.py" "$work/metrics.txt" --optional zeroseg_cluster_ \
     "$here/../../deploy/grafana-dashboard.json" "$here/../../deploy/prometheus-rules.yml" >"$work/names.txt" 2>&1; then
  pass "dashboard and alert rules name metrics that exist"
else fail "dashboard and alert rules: $(cat "$work/names.txt")"; fi

echo "== many short flows: each exactly once as start and end"
N=500
ip netns exec "$tag-app" python3 -c "
import socket
for i in range($N):
    s = socket.create_connection(('10.77.1.2', 8080), timeout=2)
    s.close()"
sleep 2.5
zs status -o json --bpf-pin-dir "$PIN" >"$work/status.json" 2>"$work/status.err"; status_rc=$?
lost=$(python3 -c "import json; print(json.load(open('$work/status.json'))['agent']['telemetry']['events_lost'])")
# status is a health check: lost events make it degraded (exit 1, said on stderr)
if [ "$lost" = 0 ]; then expect_eq "status exits 0 (no events lost)" "$status_rc" 0
else
  expect_eq "status exits 1 with $lost events lost" "$status_rc" 1
  expect_contains "status says why" "$(cat "$work/status.err")" "degraded: $lost events lost"
fi
per_port() {  # EVENT: distinct source ports, and records, of app -> web:8080 at web's ingress
  python3 - "$FLOWS" "$1" "$tag-webh" <<'PY'
import json, sys, collections
path, event, iface = sys.argv[1:]
ports = collections.Counter()
for line in open(path):
    f = json.loads(line)
    if f["event"] == event and f["interface"] == iface and f["destination"].get("port") == 8080:
        ports[f["source"]["port"]] += 1
print(len(ports), sum(ports.values()))
PY
}
read -r starts start_records < <(per_port flow-start)
read -r ends end_records < <(per_port flow-end)
if [ "$lost" = 0 ]; then
  expect_count "$N flows started, each once" "$N $N" "$starts $start_records"
  expect_count "$N flows ended, each once" "$N $N" "$ends $end_records"
else
  expect_count "started + lost events cover all $N flows" "$N" "$((starts + lost))"
fi

echo "== IPFIX: nfcapd received what the flow log says"
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=
# nfcapd writes what it has read when it stops: first let it read all that
# waits in its socket (Recv-Q 0), and note what the kernel dropped there
for _ in $(seq 50); do
  q=$(in_node ss -Hunl "sport = :$IPFIX_PORT" | awk '{print $2; exit}')
  [ "${q:-0}" = 0 ] && break
  sleep 0.1
done
udp_drops=$(in_node nstat -asz UdpRcvbufErrors 2>/dev/null | awk '$1 == "UdpRcvbufErrors" {print $2}')
kill "$nfcapd_pid"; wait "$nfcapd_pid" 2>/dev/null; nfcapd_pid=
# the allowed flow's end at web's ingress: its forward packets per the flow log
log_pkts=$(python3 - "$FLOWS" "$tag-webh" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f["event"] == "flow-end" and f["interface"] == sys.argv[2] and f["destination"].get("port") == 80:
        print(f["source"]["port"], f["packets"]["forward"], f["bytes"]["forward"])
PY
)
read -r sport pkts bytes <<<"$log_pkts"
got=$(nfdump -R "$work/ipfix" -q -o "fmt:%sp %pkt %byt" "src ip 10.77.2.2 and dst ip 10.77.1.2 and dst port 80 and proto tcp" 2>&1 |
      awk -v p="$sport" '$1 == p' | head -1 | tr -s ' ')
expect_count "nfdump shows the flow with the log's packets and bytes" "$sport $pkts $bytes" "$(echo $got)"
# the same flow at app's interface is an egress record: egressInterface
# (nfdump's output interface) is app's, ingressInterface is not sent
app_if=$(in_node ip -o link show "$tag-apph" | cut -d: -f1)
web_if=$(in_node ip -o link show "$tag-webh" | cut -d: -f1)
ifaces=$(nfdump -R "$work/ipfix" -q -o "fmt:%sp %in %out" "src ip 10.77.2.2 and dst ip 10.77.1.2 and dst port 80 and proto tcp" 2>&1 |
         awk -v p="$sport" '$1 == p {print $2, $3}' | sort | tr '\n' ' ')
expect_count "nfdump: at app's interface out (egressInterface $app_if), at web's in (ingressInterface $web_if)" \
  "$(printf '%s\n' "0 $app_if" "$web_if 0" | sort | tr '\n' ' ')" "$ifaces"
denied=$(nfdump -R "$work/ipfix" -q -o "fmt:%dp" "dst ip 10.77.1.2 and dst port 81 and proto tcp" 2>/dev/null | grep -c 81)
expect_at_least "nfdump shows the denied app -> web:81" 1 "$denied"
total=$(nfdump -R "$work/ipfix" -q -o "fmt:%dp" "dst ip 10.77.1.2 and dst port 8080" 2>/dev/null | wc -l)
expect_at_least "nfdump has the short flows' ends (both observation points; datagrams the kernel dropped at nfcapd's socket: ${udp_drops:-?})" $((2 * N)) "$total"

cleanup
trap - EXIT
e2e_nothing_left "$tag" "$PIN"
e2e_summary
