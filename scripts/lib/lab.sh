# The namespace lab: functions shared by scripts/lab.sh (its CLI), the demo
# and the end-to-end tests. Source it, set LAB (the prefix, default zs-lab)
# and ZEROSEG (the binary), then call lab_up / lab_down / ...
#
#   node namespace LAB-node: the "host", forwarding on, zeroseg's agent
#     LAB-w1 .. LAB-w6: host ends of the workloads' veths
#   one namespace a workload, LAB-NS-NAME, interface eth0:
#     1 prod/web   2 prod/app   3 prod/db   4 dev/web   5 mgmt/bastion   6 guest/attacker
#     workload i: 10.77.i.2/24 and fd77:i::2/64, gateway .1 / ::1 on the node,
#     permanent neighbour entries both ways (no ARP/ND races in probes)
#   services in every workload (scripts/lib/lab_services.py): HTTP on 80
#     (answers "ns/name"), TCP echo on 22, 443, 5432, 8080, UDP echo on 53
#   the agent: socket, state, flow and alert logs and YAML under /run/zeroseg/LAB/,
#     quarantines keeping mgmt (10.77.5.0/24, fd77:5::/64) as management,
#     pins under /sys/fs/bpf/LAB, metrics on 127.0.0.1:9464 in the node
# shellcheck shell=bash

# The defaults below make the lab above; a test may set LAB_WORKLOADS,
# LAB_NAMESPACES, LAB_NS_LABELS, LAB_TCP_PORTS, LAB_UDP_PORTS and
# LAB_PORTS_YAML before sourcing to build another set of workloads the same way,
# and LAB_AGENT_YAML (lines) to add to the agent's config (a setting it
# gives replaces the lab's).
LAB=${LAB:-zs-lab}
if [ -z "${LAB_WORKLOADS+set}" ]; then
  LAB_WORKLOADS=("prod web tier=web" "prod app tier=app" "prod db tier=db"
                 "dev web tier=web" "mgmt bastion role=bastion" "guest attacker role=guest")
  LAB_NAMESPACES=(prod dev mgmt guest)
  declare -A LAB_NS_LABELS=([prod]="env: prod" [dev]="env: dev" [mgmt]="env: mgmt" [guest]="env: guest")
fi
: "${LAB_TCP_PORTS:=22,443,5432,8080}"
: "${LAB_UDP_PORTS:=53}"
if [ -z "${LAB_PORTS_YAML+set}" ]; then  # (braces in the value: no ${:=} here)
  LAB_PORTS_YAML='[{name: ssh, port: 22}, {name: http, port: 80}, {name: https, port: 443}, {name: postgres, port: 5432}, {name: api, port: 8080}, {name: dns, port: 53, protocol: UDP}]'
fi
LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

lab_dir() { echo "/run/zeroseg/$LAB"; }
lab_pin() { echo "/sys/fs/bpf/$LAB"; }
lab_node() { echo "$LAB-node"; }
lab_socket() { echo "$(lab_dir)/agent.sock"; }

lab_check_name() {
  [[ $LAB =~ ^zs-[a-z0-9-]{1,8}$ ]] || {
    echo "lab: name \"$LAB\" must look like zs-NAME (at most 11 characters: interface names are short)" >&2
    return 1
  }
}

# lab_index WORKLOAD: 1..6 for "prod/web" (or "web" when unambiguous: the first match)
lab_index() {
  local i=0 w ns name
  for w in "${LAB_WORKLOADS[@]}"; do
    i=$((i + 1))
    read -r ns name _ <<<"$w"
    if [ "$1" = "$ns/$name" ] || [ "$1" = "$name" ]; then echo $i; return 0; fi
  done
  echo "lab: no workload \"$1\" in this lab" >&2
  return 1
}
lab_name() {  # WORKLOAD -> namespace/name
  local i ns name
  i=$(lab_index "$1") || return 1
  read -r ns name _ <<<"${LAB_WORKLOADS[$((i - 1))]}"
  echo "$ns/$name"
}
lab_netns() {  # WORKLOAD -> its namespace
  local i ns name
  i=$(lab_index "$1") || return 1
  read -r ns name _ <<<"${LAB_WORKLOADS[$((i - 1))]}"
  echo "$LAB-$ns-$name"
}
lab_ip() {  # WORKLOAD [4|6]
  local i
  i=$(lab_index "$1") || return 1
  if [ "${2:-4}" = 6 ]; then echo "fd77:$i::2"; else echo "10.77.$i.2"; fi
}
lab_exec() {  # WORKLOAD CMD...: run CMD inside the workload
  local ns
  ns=$(lab_netns "$1") || return 1
  shift
  ip netns exec "$ns" "$@"
}
# lab_zs ARGS...: the zeroseg CLI against the lab's agent (in the node namespace)
lab_zs() {
  local extra=(--socket "$(lab_socket)")
  case "${1:-}" in status | bpf) extra+=(--bpf-pin-dir "$(lab_pin)") ;; esac
  nsenter --net="/run/netns/$(lab_node)" "$ZEROSEG" "$@" "${extra[@]}"
}
# lab_probe SRC DST tcp|udp|icmp|http [PORT] [4|6]: exit 0 when DST answers
lab_probe() {
  local src=$1 dst=$2 proto=$3 port=${4:-} family=${5:-4} ip
  ip=$(lab_ip "$dst" "$family") || return 1
  case $proto in
    tcp) lab_exec "$src" ncat -z -w 1 "$ip" "$port" ;;
    udp) lab_exec "$src" python3 "$LAB_LIB_DIR/../../tests/e2e/udp_echo.py" probe "$ip" "$port" ;;
    icmp) lab_exec "$src" ping -c 1 -W 1 "$ip" ;;
    http)
      [ "$family" = 6 ] && ip="[$ip]"
      [ "$(lab_exec "$src" curl -s -m 2 -g "http://$ip/")" = "$(lab_name "$dst")" ] ;;
  esac >/dev/null 2>&1
}

lab_objects_yaml() {
  local i=0 w ns name label
  for ns in "${LAB_NAMESPACES[@]}"; do
    printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {%s}}\n' "$ns" "${LAB_NS_LABELS[$ns]}"
  done
  for w in "${LAB_WORKLOADS[@]}"; do
    i=$((i + 1))
    read -r ns name label <<<"$w"
    printf -- '---\napiVersion: zeroseg.io/v1\nkind: Workload\n'
    printf 'metadata: {name: %s, namespace: %s, labels: {%s: %s}}\n' "$name" "$ns" "${label%%=*}" "${label#*=}"
    printf 'spec:\n  interface: %s-w%d\n  ips: [10.77.%d.2, "fd77:%d::2"]\n' "$LAB" $i $i $i
    printf '  ports: %s\n' "$LAB_PORTS_YAML"
  done
}

mac_of() { ip -n "$1" -o link show "$2" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }

# lab_up [--no-agent]: namespaces, links, services, the agent, the objects
lab_up() {
  lab_check_name || return 1
  local node i=0 w ns name wns host dir
  node=$(lab_node) dir=$(lab_dir)
  if [ -e "/run/netns/$node" ]; then echo "lab: $LAB is already up (lab.sh down --name $LAB first)" >&2; return 1; fi
  mkdir -p "$dir"
  ip netns add "$node" && ip -n "$node" link set lo up || return 1
  ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  for w in "${LAB_WORKLOADS[@]}"; do
    i=$((i + 1))
    read -r ns name _ <<<"$w"
    wns="$LAB-$ns-$name" host="$LAB-w$i"
    ip netns add "$wns" && ip -n "$wns" link set lo up || return 1
    ip link add "$host" netns "$node" type veth peer name eth0 netns "$wns" || return 1
    ip -n "$node" addr add "10.77.$i.1/24" dev "$host"
    ip -n "$node" addr add "fd77:$i::1/64" dev "$host" nodad
    ip -n "$wns" addr add "10.77.$i.2/24" dev eth0
    ip -n "$wns" addr add "fd77:$i::2/64" dev eth0 nodad
    ip -n "$node" link set "$host" up
    ip -n "$wns" link set eth0 up
    ip -n "$wns" route add default via "10.77.$i.1"
    ip -n "$wns" -6 route add default via "fd77:$i::1"
    ip -n "$wns" neigh replace "10.77.$i.1" lladdr "$(mac_of "$node" "$host")" dev eth0 nud permanent
    ip -n "$wns" neigh replace "fd77:$i::1" lladdr "$(mac_of "$node" "$host")" dev eth0 nud permanent
    ip -n "$node" neigh replace "10.77.$i.2" lladdr "$(mac_of "$wns" eth0)" dev "$host" nud permanent
    ip -n "$node" neigh replace "fd77:$i::2" lladdr "$(mac_of "$wns" eth0)" dev "$host" nud permanent
    setsid ip netns exec "$wns" python3 "$LAB_LIB_DIR/lab_services.py" "$ns/$name" \
      --http 80 --tcp "$LAB_TCP_PORTS" --udp "$LAB_UDP_PORTS" </dev/null >/dev/null 2>&1 &
  done
  lab_objects_yaml >"$dir/lab.yaml"
  [ "${1:-}" = --no-agent ] && return 0
  lab_agent_up
}

# lab_agent_up: the agent started in the node namespace (after lab_up
# --no-agent: the lab first without, then with), and the lab's objects applied
lab_agent_up() {
  local node dir w ns name line own_settings=${LAB_AGENT_YAML:-}
  node=$(lab_node) dir=$(lab_dir)
  # the lab's settings, but those LAB_AGENT_YAML gives (a key may appear
  # once in the file: the agent refuses one given twice), then its lines
  {
    while IFS= read -r line; do
      grep -q "^${line%%:*}:" <<<"$own_settings" || printf '%s\n' "$line"
    done <<YAML
socket: $dir/agent.sock
bpf-pin-dir: $(lab_pin)
state-dir: $dir/state
node-name: $LAB-node
flow-log: $dir/flows.json
metrics-listen: 127.0.0.1:9464
ct-timeout-tcp-closing: 2s
ct-timeout-other: 10s
flow-sweep-interval: 500ms
alert-log: $dir/alerts.json
quarantine-management: 10.77.5.0/24,fd77:5::/64
YAML
    [ -z "$own_settings" ] || printf '%s\n' "$own_settings"
  } >"$dir/agent.yaml"
  # nsenter execs the agent: $! is the agent; setsid keeps terminal signals off it
  setsid nsenter --net="/run/netns/$node" "$ZEROSEG" agent --config "$dir/agent.yaml" \
    </dev/null >"$dir/agent.log" 2>&1 &
  echo $! >"$dir/agent.pid"
  for _ in $(seq 100); do
    lab_zs workload list >/dev/null 2>&1 && break
    sleep 0.1
  done
  lab_zs workload list >/dev/null 2>&1 || { echo "lab: the agent did not come up:" >&2; cat "$dir/agent.log" >&2; return 1; }
  lab_zs apply -f "$dir/lab.yaml" >/dev/null || return 1
  # every service listening before anyone probes
  for w in "${LAB_WORKLOADS[@]}"; do
    read -r ns name _ <<<"$w"
    for _ in $(seq 50); do lab_exec "$ns/$name" ncat -z -w 1 127.0.0.1 80 2>/dev/null && break; sleep 0.1; done
  done
}

# lab_down: the agent stopped, programs detached, pins and namespaces gone
lab_down() {
  lab_check_name || return 1
  local dir node pid ns
  dir=$(lab_dir) node=$(lab_node)
  if [ -f "$dir/agent.pid" ]; then
    pid=$(cat "$dir/agent.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi  # its pid may be another's by now
  fi
  if [ -e "/run/netns/$node" ] && [ -x "$ZEROSEG" ]; then
    nsenter --net="/run/netns/$node" "$ZEROSEG" agent --uninstall --bpf-pin-dir "$(lab_pin)" >/dev/null 2>&1 || true
  fi
  local namespaces
  namespaces=$(IFS='|'; echo "node|${LAB_NAMESPACES[*]}")
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$LAB-($namespaces)(-|$)"); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$(lab_pin)" "$dir"
  return 0
}

lab_status() {
  local dir node pid n
  dir=$(lab_dir) node=$(lab_node)
  if [ ! -e "/run/netns/$node" ]; then echo "lab $LAB: down"; return 1; fi
  n=$(ip netns list | awk '{print $1}' | grep -cE "^$LAB-($(IFS='|'; echo "${LAB_NAMESPACES[*]}"))-")
  pid=$(cat "$dir/agent.pid" 2>/dev/null)
  printf 'lab %s: up, %d workloads, node namespace %s\n' "$LAB" "$n" "$node"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    printf 'agent: pid %s, socket %s, pins %s, flow log %s\n' "$pid" "$(lab_socket)" "$(lab_pin)" "$dir/flows.json"
  else
    echo "agent: not running"
  fi
  local i=0 w ns name
  for w in "${LAB_WORKLOADS[@]}"; do
    i=$((i + 1))
    read -r ns name _ <<<"$w"
    printf '  %-16s %-12s %-12s %s\n' "$ns/$name" "$LAB-w$i" "10.77.$i.2" "fd77:$i::2"
  done
}
