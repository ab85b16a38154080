# The three-node lab (scripts/lab.sh --cluster): functions shared by lab.sh
# and the cluster end-to-end tests. Source it, set LAB (the prefix, default
# zs-cl) and ZEROSEG (the binary), then call clab_up / clab_down / ...
#
#   underlay namespace LAB-u: a bridge (LAB-br, 10.79.0.254/24, fd79::fe/64)
#     joining the nodes, and etcd on 10.79.0.254:2379 (its own namespace:
#     a node can be cut off from it, or killed, without taking etcd along)
#   node namespaces LAB-n1..LAB-n3: the "hosts", forwarding on; node i is
#     10.79.0.i / fd79::i on the underlay (LAB-niu; LAB-ui on the bridge),
#     routes to the other nodes' workload subnets through them
#   workloads behind node i (namespace LAB-NS-NAME, interface eth0, host end
#     LAB-iwJ): the J-th is 10.8i.J.2/24 and fd8i:J::2/64, gateway .1 / ::1
#       n1: prod/web tier=web, prod/db tier=db
#       n2: prod/api tier=api, prod/batch tier=batch
#       n3: prod/client tier=client, guest/guest role=guest
#     each with the lab's services (scripts/lib/lab_services.py)
#   one agent per node, in its namespace, with --cluster and its node name:
#     socket, state, flow log under /run/zeroseg/LAB/nI/, pins /sys/fs/bpf/LAB-nI;
#     each node applies its own workloads; the Namespaces go through node 1
#   CLAB_TLS_DIR set: etcd behind mutual TLS (clab_etcd_start says which files)
# shellcheck shell=bash

LAB=${LAB:-zs-cl}
: "${CLAB_LEASE_TTL:=15s}"
: "${CLAB_TCP_PORTS:=22,443,5432,8080}"
CLAB_NODES=(1 2 3)
CLAB_WORKLOADS=("1 prod web tier=web" "1 prod db tier=db" "2 prod api tier=api" "2 prod batch tier=batch"
                "3 prod client tier=client" "3 guest guest role=guest")
CLAB_NAMESPACES=(prod guest)
CLAB_ETCD_IP=10.79.0.254
CLAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

clab_dir() { echo "/run/zeroseg/$LAB"; }
clab_node() { echo "$LAB-n${1#n}"; }  # 1 or n1 -> its namespace
clab_pin() { echo "/sys/fs/bpf/$LAB-n${1#n}"; }
clab_socket() { echo "$(clab_dir)/n${1#n}/agent.sock"; }

clab_check_name() {
  [[ $LAB =~ ^zs-[a-z0-9-]{1,8}$ ]] || {
    echo "lab: name \"$LAB\" must look like zs-NAME (at most 11 characters: interface names are short)" >&2
    return 1
  }
}

# clab_find WORKLOAD: "NODE J NS NAME LABEL" of "prod/web" (or "web")
clab_find() {
  local w node ns name label j=0 last=''
  for w in "${CLAB_WORKLOADS[@]}"; do
    read -r node ns name label <<<"$w"
    [ "$node" = "$last" ] || j=0
    last=$node j=$((j + 1))
    if [ "$1" = "$ns/$name" ] || [ "$1" = "$name" ]; then echo "$node $j $ns $name $label"; return 0; fi
  done
  echo "lab: no workload \"$1\" in the cluster lab" >&2
  return 1
}
clab_ip() {  # WORKLOAD [4|6]
  local node j
  read -r node j _ < <(clab_find "$1") || return 1
  [ -n "$node" ] || return 1
  if [ "${2:-4}" = 6 ]; then echo "fd8$node:$j::2"; else echo "10.8$node.$j.2"; fi
}
clab_netns() {  # WORKLOAD -> its namespace
  local ns name
  read -r _ _ ns name _ < <(clab_find "$1") || return 1
  [ -n "$name" ] || return 1
  echo "$LAB-$ns-$name"
}
clab_exec() {  # WORKLOAD CMD...
  local ns
  ns=$(clab_netns "$1") || return 1
  shift
  ip netns exec "$ns" "$@"
}
# clab_zs NODE ARGS...: the CLI against node NODE's agent (1..3 or n1..n3)
clab_zs() {
  local n=${1#n}; shift
  local extra=(--socket "$(clab_socket "$n")")
  case "${1:-}" in
    status) extra+=(--bpf-pin-dir "$(clab_pin "$n")") ;;
    bpf) extra=(--bpf-pin-dir "$(clab_pin "$n")") ;;  # the pins only, no agent
  esac
  nsenter --net="/run/netns/$(clab_node "$n")" "$ZEROSEG" "$@" "${extra[@]}"
}
# clab_probe SRC DST tcp|http [PORT] [4|6]: exit 0 when DST answers
clab_probe() {
  local src=$1 dst=$2 proto=$3 port=${4:-80} family=${5:-4} ip
  ip=$(clab_ip "$dst" "$family") || return 1
  case $proto in
    tcp) clab_exec "$src" ncat -z -w 1 "$ip" "$port" ;;
    http)
      [ "$family" = 6 ] && ip="[$ip]"
      local who
      who=$(clab_exec "$src" curl -s -m 2 -g "http://$ip:$port/") || return 1
      read -r _ _ ns name _ < <(clab_find "$dst")
      [ "$who" = "$ns/$name" ] ;;
    *) echo "lab: probe tcp or http" >&2; return 2 ;;
  esac >/dev/null 2>&1
}

clab_mac() { ip -n "$1" -o link show "$2" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }

# clab_workload NODE J NS NAME: its namespace, veth, addresses, services
clab_workload() {
  local i=$1 j=$2 ns=$3 name=$4 node wns host
  node=$(clab_node "$i") wns="$LAB-$ns-$name" host="$LAB-${i}w$j"
  ip netns add "$wns" && ip -n "$wns" link set lo up || return 1
  ip link add "$host" netns "$node" type veth peer name eth0 netns "$wns" || return 1
  ip -n "$node" addr add "10.8$i.$j.1/24" dev "$host"
  ip -n "$node" addr add "fd8$i:$j::1/64" dev "$host" nodad
  ip -n "$wns" addr add "10.8$i.$j.2/24" dev eth0
  ip -n "$wns" addr add "fd8$i:$j::2/64" dev eth0 nodad
  ip -n "$node" link set "$host" up && ip -n "$wns" link set eth0 up || return 1
  ip -n "$wns" route add default via "10.8$i.$j.1"
  ip -n "$wns" -6 route add default via "fd8$i:$j::1"
  # permanent neighbours both ways: no ARP/ND races in probes
  ip -n "$wns" neigh replace "10.8$i.$j.1" lladdr "$(clab_mac "$node" "$host")" dev eth0 nud permanent
  ip -n "$wns" neigh replace "fd8$i:$j::1" lladdr "$(clab_mac "$node" "$host")" dev eth0 nud permanent
  ip -n "$node" neigh replace "10.8$i.$j.2" lladdr "$(clab_mac "$wns" eth0)" dev "$host" nud permanent
  ip -n "$node" neigh replace "fd8$i:$j::2" lladdr "$(clab_mac "$wns" eth0)" dev "$host" nud permanent
  setsid ip netns exec "$wns" python3 "$CLAB_LIB_DIR/lab_services.py" "$ns/$name" \
    --http 80 --tcp "$CLAB_TCP_PORTS" --udp 53 </dev/null >/dev/null 2>&1 &
}

# clab_underlay: the bridge namespace and one veth per node, routes between
# the nodes' workload subnets (node i: 10.8i.0.0/16, fd8i::/16)
clab_underlay() {
  local u="$LAB-u" i k node
  ip netns add "$u" && ip -n "$u" link set lo up || return 1
  ip -n "$u" link add "$LAB-br" type bridge && ip -n "$u" link set "$LAB-br" up || return 1
  ip -n "$u" addr add "$CLAB_ETCD_IP/24" dev "$LAB-br"
  ip -n "$u" addr add fd79::fe/64 dev "$LAB-br" nodad
  for i in "${CLAB_NODES[@]}"; do
    node=$(clab_node "$i")
    ip netns add "$node" && ip -n "$node" link set lo up || return 1
    ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip link add "$LAB-u$i" netns "$u" type veth peer name "$LAB-n${i}u" netns "$node" || return 1
    ip -n "$u" link set "$LAB-u$i" master "$LAB-br" && ip -n "$u" link set "$LAB-u$i" up || return 1
    ip -n "$node" addr add "10.79.0.$i/24" dev "$LAB-n${i}u"
    ip -n "$node" addr add "fd79::$i/64" dev "$LAB-n${i}u" nodad
    ip -n "$node" link set "$LAB-n${i}u" up || return 1
  done
  for i in "${CLAB_NODES[@]}"; do
    for k in "${CLAB_NODES[@]}"; do
      [ "$i" = "$k" ] && continue
      ip -n "$(clab_node "$i")" route add "10.8$k.0.0/16" via "10.79.0.$k" || return 1
      ip -n "$(clab_node "$i")" -6 route add "fd8$k::/16" via "fd79::$k" || return 1
    done
  done
}

# With CLAB_TLS_DIR set (ca.pem, server.pem, server-key.pem for
# $CLAB_ETCD_IP, client.pem, client-key.pem: tests/e2e/cluster_tls.sh makes
# them), etcd serves https only and asks for a client certificate of that CA
# (--client-cert-auth: mutual TLS), and the agents connect with
# etcd-ca/etcd-cert/etcd-key.
clab_scheme() { if [ -n "${CLAB_TLS_DIR:-}" ]; then echo https; else echo http; fi; }
clab_curl_tls() {  # curl's options for the lab's etcd
  [ -n "${CLAB_TLS_DIR:-}" ] &&
    echo "--cacert $CLAB_TLS_DIR/ca.pem --cert $CLAB_TLS_DIR/client.pem --key $CLAB_TLS_DIR/client-key.pem"
}

# clab_etcd_start: etcd in the underlay namespace, on the bridge's address.
# It compacts its history as a deployment's etcd must (or its db grows with
# every write until the 2 GiB quota stops all writes): periodically, keeping
# CLAB_ETCD_RETENTION (5m, as kube-apiserver compacts its etcd every 5
# minutes); a watch that asks for a revision older than that is refused and
# the agent lists again (docs/cluster.md, "etcd's upkeep"). Defragmenting,
# which gives the compacted space back to the disk and stalls the member
# while it runs, is never automatic in etcd 3.4: clab_compact does both.
clab_etcd_start() {
  local dir u="$LAB-u" url tls=()
  dir=$(clab_dir)
  url="$(clab_scheme)://$CLAB_ETCD_IP:2379"
  [ -n "${CLAB_TLS_DIR:-}" ] && tls=(--cert-file "$CLAB_TLS_DIR/server.pem" --key-file "$CLAB_TLS_DIR/server-key.pem"
    --trusted-ca-file "$CLAB_TLS_DIR/ca.pem" --client-cert-auth)
  setsid nsenter --net="/run/netns/$u" etcd --name "$LAB-etcd" --data-dir "$dir/etcd" \
    --listen-client-urls "$url" --advertise-client-urls "$url" "${tls[@]}" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$LAB-etcd=http://127.0.0.1:2380" --log-level warn --logger zap \
    --auto-compaction-mode periodic --auto-compaction-retention "${CLAB_ETCD_RETENTION:-5m}" \
    </dev/null >>"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  disown $!
  for _ in $(seq 100); do
    # shellcheck disable=SC2046  # the options are words
    nsenter --net="/run/netns/$u" curl -s -m 1 $(clab_curl_tls) -X POST -d '{"key":"AA=="}' "$url/v3/kv/range" \
      >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "lab: etcd did not come up:" >&2; cat "$dir/etcd.log" >&2; return 1
}

# clab_etcd_call PATH JSON: one request to the lab's etcd (its v3 JSON gateway)
clab_etcd_call() {
  # shellcheck disable=SC2046  # the options are words
  nsenter --net="/run/netns/$LAB-u" curl -sS -m 60 $(clab_curl_tls) -X POST -d "$2" \
    "$(clab_scheme)://$CLAB_ETCD_IP:2379$1"
}
# clab_compact: what an operator's periodic job does to etcd: its history
# compacted up to the newest revision (physical: done before the answer), then
# its db file defragmented; says the revision and the db's size before and after
clab_compact() {
  local rev before after out
  local size='import json, sys; print(json.load(sys.stdin).get("dbSize", "?"))'
  before=$(clab_etcd_call /v3/maintenance/status '{}' | python3 -c "$size") || return 1
  rev=$(clab_etcd_call /v3/kv/range '{"key":"AA=="}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["header"]["revision"])') || return 1
  out=$(clab_etcd_call /v3/kv/compaction "{\"revision\":\"$rev\",\"physical\":true}") || return 1
  # a compaction at a revision already compacted (by the periodic one) is no failure
  if grep -q '"error"' <<<"$out" && ! grep -q 'compacted' <<<"$out"; then echo "lab: compaction: $out" >&2; return 1; fi
  out=$(clab_etcd_call /v3/maintenance/defragment '{}') || return 1
  if grep -q '"error"' <<<"$out"; then echo "lab: defragment: $out" >&2; return 1; fi
  after=$(clab_etcd_call /v3/maintenance/status '{}' | python3 -c "$size") || return 1
  echo "etcd compacted at revision $rev and defragmented: db $before -> $after bytes"
}

# clab_stop PIDFILE [SIGNAL]: the process stopped (TERM, then KILL after 5 s)
clab_stop() {
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # only if still there: the pid of one that ended may be another's by now
  # (other labs and helpers run on this machine)
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$1"
}

# clab_cluster_field NODE FIELD: the agent's cluster status field (JSON text; "" when no answer)
clab_cluster_field() {
  clab_zs "$1" status -o json 2>/dev/null |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["agent"]["cluster"][sys.argv[1]]))' "$2" 2>/dev/null
}

# What the cluster tests and the demo ask the agents: each prints "" when
# the node does not know (or does not answer), and never fails.
# clab_workload_ids NODE: "ns/name=identity ..." of every workload node NODE knows, sorted
clab_workload_ids() {
  clab_zs "$1" workload list -o json 2>/dev/null | python3 -c '
import json, sys
print(" ".join(sorted("%s/%s=%s" % (w["namespace"], w["name"], w["identity"]) for w in json.load(sys.stdin))))' 2>/dev/null || true
}
# clab_identity_of NODE WORKLOAD: its identity as node NODE knows it
clab_identity_of() {
  clab_zs "$1" workload list -o json 2>/dev/null | python3 -c '
import json, sys
print(" ".join(str(w["identity"]) for w in json.load(sys.stdin) if w["namespace"] + "/" + w["name"] == sys.argv[1]))' "$2" 2>/dev/null || true
}
# clab_ipcache_id NODE IP: the identity of IP's host entry in node NODE's pinned ipcache
clab_ipcache_id() {
  clab_zs "$1" bpf dump ipcache 2>/dev/null | awk -v p="$2" '$1 == p "/32" || $1 == p "/128" {print $2}' || true
}
# clab_last_deny NODE SRC_IP DST_IP: node NODE's latest deny record from
# SRC_IP to DST_IP as "identity name why" (waits up to 5 s for one)
clab_last_deny() {
  local got
  for _ in $(seq 25); do
    got=$(clab_zs "$1" flows --last 500 -o json --verdict denied 2>/dev/null | python3 -c '
import json, sys
last = ""
for line in sys.stdin:
    try: f = json.loads(line)
    except ValueError: continue
    s, d = f.get("source", {}), f.get("destination", {})
    if s.get("ip") == sys.argv[1] and d.get("ip") == sys.argv[2]:
        last = "%s %s %s" % (s.get("identity", 0), s.get("name", "-"), f.get("why", ""))
print(last)' "$2" "$3" 2>/dev/null || true)
    [ -n "$got" ] && { echo "$got"; return 0; }
    sleep 0.2
  done
}

# clab_agent_start NODE: node NODE's agent in its namespace, connected to etcd
clab_agent_start() {
  local n=${1#n} dir
  dir="$(clab_dir)/n$n"
  mkdir -p "$dir"
  cat >"$dir/agent.yaml" <<YAML
socket: $dir/agent.sock
bpf-pin-dir: $(clab_pin "$n")
state-dir: $dir/state
node-name: $(clab_node "$n")
cluster: etcd://$CLAB_ETCD_IP:2379
cluster-lease-ttl: $CLAB_LEASE_TTL
flow-log: $dir/flows.json
metrics-listen: 127.0.0.1:9464
ct-timeout-tcp-closing: 2s
flow-sweep-interval: 500ms
YAML
  if [ -n "${CLAB_TLS_DIR:-}" ]; then
    printf 'etcd-ca: %s\netcd-cert: %s\netcd-key: %s\n' "$CLAB_TLS_DIR/ca.pem" "$CLAB_TLS_DIR/client.pem" \
      "$CLAB_TLS_DIR/client-key.pem" >>"$dir/agent.yaml"
  fi
  # nsenter execs the agent: $! is the agent; setsid keeps terminal signals off it
  setsid nsenter --net="/run/netns/$(clab_node "$n")" "$ZEROSEG" agent --config "$dir/agent.yaml" \
    </dev/null >>"$dir/agent.log" 2>&1 &
  echo $! >"$dir/agent.pid"
  disown $!  # its end (a test's SIGKILL) is no job of the caller's shell to report
  for _ in $(seq 150); do
    [ "$(clab_cluster_field "$n" connected)" = true ] && return 0
    sleep 0.1
  done
  echo "lab: the agent of node $n did not come up:" >&2; tail -20 "$dir/agent.log" >&2; return 1
}
# clab_agent_kill NODE [SIGNAL]: SIGKILL leaves its pins enforcing, as a crash does
clab_agent_kill() { clab_stop "$(clab_dir)/n${1#n}/agent.pid" "${2:-TERM}"; }

clab_objects_yaml() {  # NODE: its workloads (node 1 also the Namespaces)
  local n=$1 w node ns name label j=0 last=''
  if [ "$n" = 1 ]; then
    for ns in "${CLAB_NAMESPACES[@]}"; do
      printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {env: %s}}\n' "$ns" "$ns"
    done
  fi
  for w in "${CLAB_WORKLOADS[@]}"; do
    read -r node ns name label <<<"$w"
    [ "$node" = "$last" ] || j=0
    last=$node j=$((j + 1))
    [ "$node" = "$n" ] || continue
    printf -- '---\napiVersion: zeroseg.io/v1\nkind: Workload\n'
    printf 'metadata: {name: %s, namespace: %s, labels: {%s: %s}}\n' "$name" "$ns" "${label%%=*}" "${label#*=}"
    printf 'spec:\n  interface: %s-%sw%d\n  ips: [10.8%d.%d.2, "fd8%d:%d::2"]\n' "$LAB" "$n" "$j" "$n" "$j" "$n" "$j"
  done
}

# clab_partition NODE / clab_heal NODE: node NODE's traffic to etcd dropped
# both ways (nftables in its namespace: its agent's requests time out, as
# behind a real partition, rather than being refused) / let through again
clab_partition() {
  ip netns exec "$(clab_node "$1")" nft -f - <<NFT
table inet zs_partition {
  chain out { type filter hook output priority 0; ip daddr $CLAB_ETCD_IP tcp dport 2379 drop; }
  chain in { type filter hook input priority 0; ip saddr $CLAB_ETCD_IP tcp sport 2379 drop; }
}
NFT
}
clab_heal() { ip netns exec "$(clab_node "$1")" nft delete table inet zs_partition; }

# clab_up [--no-agent]: the underlay, nodes, workloads, etcd, the agents, the objects
clab_up() {
  clab_check_name || return 1
  local dir w node ns name j=0 last='' i
  dir=$(clab_dir)
  if [ -e "/run/netns/$LAB-u" ]; then echo "lab: $LAB is already up (lab.sh --cluster down --name $LAB first)" >&2; return 1; fi
  command -v etcd >/dev/null || { echo "lab: needs etcd (Debian's etcd-server; scripts/install-deps.sh)" >&2; return 1; }
  mkdir -p "$dir"
  clab_underlay || return 1
  for w in "${CLAB_WORKLOADS[@]}"; do
    read -r node ns name _ <<<"$w"
    [ "$node" = "$last" ] || j=0
    last=$node j=$((j + 1))
    clab_workload "$node" "$j" "$ns" "$name" || return 1
  done
  for i in "${CLAB_NODES[@]}"; do clab_objects_yaml "$i" >"$dir/n$i.yaml"; done
  clab_etcd_start || return 1
  [ "${1:-}" = --no-agent ] && return 0
  for i in "${CLAB_NODES[@]}"; do clab_agent_start "$i" || return 1; done
  for i in "${CLAB_NODES[@]}"; do clab_zs "$i" apply -f "$dir/n$i.yaml" >/dev/null || return 1; done
  # every service listening before anyone probes
  for w in "${CLAB_WORKLOADS[@]}"; do
    read -r _ ns name _ <<<"$w"
    for _ in $(seq 50); do clab_exec "$ns/$name" ncat -z -w 1 127.0.0.1 80 2>/dev/null && break; sleep 0.1; done
  done
}

# clab_down: agents and etcd stopped, programs detached, pins and namespaces gone
clab_down() {
  clab_check_name || return 1
  local dir i ns
  dir=$(clab_dir)
  for i in "${CLAB_NODES[@]}"; do
    clab_stop "$dir/n$i/agent.pid"
    if [ -e "/run/netns/$(clab_node "$i")" ] && [ -x "$ZEROSEG" ]; then
      nsenter --net="/run/netns/$(clab_node "$i")" "$ZEROSEG" bpf uninstall --bpf-pin-dir "$(clab_pin "$i")" >/dev/null 2>&1
    fi
    rm -rf "$(clab_pin "$i")"
  done
  clab_stop "$dir/etcd.pid"
  local namespaces
  namespaces=$(IFS='|'; echo "u|n1|n2|n3|${CLAB_NAMESPACES[*]}")
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$LAB-($namespaces)(-|$)"); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$dir"
  return 0
}

clab_status() {
  local dir i pid w node ns name j=0 last=''
  dir=$(clab_dir)
  if [ ! -e "/run/netns/$LAB-u" ]; then echo "lab $LAB (cluster): down"; return 1; fi
  pid=$(cat "$dir/etcd.pid" 2>/dev/null)
  printf 'lab %s (cluster): etcd %s:2379 in %s-u (%s)\n' "$LAB" "$CLAB_ETCD_IP" "$LAB" \
    "$( [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "pid $pid" || echo "not running")"
  for i in "${CLAB_NODES[@]}"; do
    pid=$(cat "$dir/n$i/agent.pid" 2>/dev/null)
    printf 'node %s (10.79.0.%s, fd79::%s): agent %s, socket %s\n' "$(clab_node "$i")" "$i" "$i" \
      "$( [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "pid $pid" || echo "not running")" "$(clab_socket "$i")"
    for w in "${CLAB_WORKLOADS[@]}"; do
      read -r node ns name _ <<<"$w"
      [ "$node" = "$last" ] || j=0
      last=$node j=$((j + 1))
      # the interface column as wide as the lab's names make it (up to 15)
      [ "$node" = "$i" ] && printf "  %-14s %-$((${#LAB} + 5))s %-12s %s\n" "$ns/$name" "$LAB-${i}w$j" "10.8$i.$j.2" "fd8$i:$j::2"
    done
  done
  return 0
}
