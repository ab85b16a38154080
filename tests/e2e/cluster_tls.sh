#!/usr/bin/env bash
# The three-node lab (scripts/lib/cluster_lab.sh) with etcd behind mutual TLS,
# as etcd deployments run it: a CA made here (openssl, in the test's temp dir),
# etcd serving https only with a server certificate for its address and
# asking every client for a certificate of that CA (--client-cert-auth), the
# agents connecting with --etcd-ca/--etcd-cert/--etcd-key (CLAB_TLS_DIR).
#
# Checks: etcd itself refuses plain http and a client without a certificate
# (so what follows cannot pass over a plain connection); the agents connect;
# one policy applied through node 1 reaches all three and is enforced on real
# packets across nodes; `cluster status` lists the identities (count; -o json
# the table with the nodes using each); an agent whose client certificate is
# signed by another CA is refused: it reports the outage naming TLS and its
# certificate, an apply through it fails saying so and writes nothing, and it
# never joins (no nodes/ key).
#
# Usage: cluster_tls.sh PATH/TO/zeroseg
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=cluster_common.sh
source "$here/cluster_common.sh"
cluster_setup "$1" t
fdir=$work/n4 fpin="/sys/fs/bpf/$LAB-x4"  # the agent with a foreign certificate, below
trap 'clab_stop "$fdir/agent.pid"; rm -rf "$fpin"; clab_down; rm -rf "$work"' EXIT
command -v openssl >/dev/null || e2e_skip "needs openssl"

# make_ca DIR CN: a CA; make_cert DIR NAME CN EXT: a certificate of DIR's CA
make_ca() {
  mkdir -p "$1" && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$2" \
    -keyout "$1/ca-key.pem" -out "$1/ca.pem" >>"$work/openssl.log" 2>&1
}
make_cert() {
  local d=$1 name=$2 cn=$3 ext=$4
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$d/$name-key.pem" -out "$d/$name.csr" \
    >>"$work/openssl.log" 2>&1 &&
    printf '%b' "$ext" >"$d/$name.ext" &&
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 1 \
      -extfile "$d/$name.ext" -out "$d/$name.pem" >>"$work/openssl.log" 2>&1
}
tlsdir=$work/tls foreign=$work/foreign
make_ca "$tlsdir" zs-lab-ca &&
  make_cert "$tlsdir" server "$CLAB_ETCD_IP" "subjectAltName=IP:$CLAB_ETCD_IP\nextendedKeyUsage=serverAuth,clientAuth\n" &&
  make_cert "$tlsdir" client zs-node "extendedKeyUsage=clientAuth\n" &&
  make_ca "$foreign" zs-other-ca &&
  make_cert "$foreign" client zs-node "extendedKeyUsage=clientAuth\n" ||
  { echo "openssl failed:"; cat "$work/openssl.log"; exit 1; }
export CLAB_TLS_DIR=$tlsdir

echo "== the lab, etcd behind mutual TLS"
clab_up || { echo "the lab did not come up"; exit 1; }
u="/run/netns/$LAB-u"
etcd_https() {  # PATH BODY [CURL OPTIONS...]: etcd's answer, with the given credentials
  local path=$1 body=$2
  shift 2
  nsenter --net="$u" curl -s -m 3 "$@" -X POST -d "$body" "https://$CLAB_ETCD_IP:2379$path"
}
good=(--cacert "$tlsdir/ca.pem" --cert "$tlsdir/client.pem" --key "$tlsdir/client-key.pem")
expect_fail "etcd refuses plain http" nsenter --net="$u" curl -sf -m 3 -X POST -d '{"key":"AA=="}' "http://$CLAB_ETCD_IP:2379/v3/kv/range"
expect_fail "etcd refuses a client without a certificate" etcd_https /v3/kv/range '{"key":"AA=="}' -f --cacert "$tlsdir/ca.pem"
expect_fail "etcd refuses a client certificate of another CA" etcd_https /v3/kv/range '{"key":"AA=="}' -f \
  --cacert "$tlsdir/ca.pem" --cert "$foreign/client.pem" --key "$foreign/client-key.pem"
expect_ok "etcd answers the lab's client certificate" etcd_https /v3/kv/range '{"key":"AA=="}' -f "${good[@]}"
for n in 1 2 3; do
  expect_contains "node $n's agent has the TLS settings" "$(cat "$(clab_dir)/n$n/agent.yaml")" "etcd-cert: $tlsdir/client.pem"
  expect_eq "node $n connected to etcd" "$(clab_cluster_field $n connected)" true
done

echo "== one policy through node 1, enforced on every node through TLS"
cluster_policy_yaml >"$work/policy.yaml"
rev=$(clab_zs 1 apply -f "$work/policy.yaml" -o json | cluster_rev)
expect_ok "the apply returned an etcd revision ($rev)" test "${rev:-0}" -gt 0
expect_ok "every node applied that revision" all_applied "${rev:-999999}"
for f in 4 6; do
  expect_ok "client (n3) -> web (n1):80 allowed, IPv$f" clab_probe client web http 80 $f
  expect_ok "client (n3) -> api (n2):80 allowed, IPv$f" clab_probe client api http 80 $f
  expect_fail "guest (n3) -> web (n1):80 denied, IPv$f" clab_probe guest web tcp 80 $f
  expect_fail "web (n1) -> api (n2):80 denied, IPv$f" clab_probe web api tcp 80 $f
done
ids1=$(clab_workload_ids 1)
expect_eq "node 3 numbers the workloads as node 1" "$(clab_workload_ids 3)" "$ids1"

echo "== cluster status lists the identities"
web_id=$(clab_identity_of 1 prod/web) guest_id=$(clab_identity_of 1 guest/guest)
status_json=$(clab_zs 2 cluster status -o json 2>&1)
got=$(python3 -c '
import json, sys
j = json.loads(sys.argv[1])
t = {str(i["identity"]): i for i in j["identities"]}
print(j["identity_count"] == len(j["identities"]), len(t) >= 6)
for n in sys.argv[2:]:
    i = t.get(n, {})
    print(n, i.get("labels", {}).get("tier", i.get("labels", {}).get("role")), " ".join(sorted(i.get("nodes", []))),
          i.get("release_pending_since"))' "$status_json" "$web_id" "$guest_id" 2>&1)
expect_eq "the table: count, and web's and guest's numbers with their labels, used by all 3 nodes, no release pending" \
  "$got" "True True
$web_id web $LAB-n1 $LAB-n2 $LAB-n3 None
$guest_id guest $LAB-n1 $LAB-n2 $LAB-n3 None"
expect_contains "the text names the count" "$(clab_zs 2 cluster status 2>&1)" "identities: "

echo "== an agent with a client certificate of another CA is refused, clearly"
mkdir -p "$fdir"
cat >"$fdir/agent.yaml" <<YAML
socket: $fdir/agent.sock
bpf-pin-dir: $fpin
state-dir: $fdir/state
node-name: $LAB-n4
cluster: etcd://$CLAB_ETCD_IP:2379
cluster-lease-ttl: 5s
etcd-ca: $tlsdir/ca.pem
etcd-cert: $foreign/client.pem
etcd-key: $foreign/client-key.pem
YAML
setsid nsenter --net="/run/netns/$(clab_node 3)" "$ZEROSEG" agent --config "$fdir/agent.yaml" \
  </dev/null >>"$fdir/agent.log" 2>&1 &
echo $! >"$fdir/agent.pid"
disown $!
fzs() {
  local extra=(--socket "$fdir/agent.sock")
  [ "$1" = status ] && extra+=(--bpf-pin-dir "$fpin")
  nsenter --net="/run/netns/$(clab_node 3)" "$ZEROSEG" "$@" "${extra[@]}"
}
ferror=""
for _ in $(seq 100); do
  ferror=$(fzs status -o json 2>/dev/null | python3 -c '
import json, sys
c = json.load(sys.stdin)["agent"]["cluster"]
print("" if c.get("connected") else c.get("error", ""))' 2>/dev/null)
  [ -n "$ferror" ] && break
  sleep 0.1
done
expect_ok "the foreign agent runs and reports an outage ($ferror)" test -n "$ferror"
expect_contains "its error names TLS and its certificate" "$ferror" "certificate"
expect_eq "it is not connected" "$(fzs status -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["cluster"]["connected"])')" False
cat >"$work/w4.yaml" <<'YAML'
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: intruder, namespace: prod, labels: {tier: web}}
spec: {ips: [10.83.9.9]}
YAML
out=$(fzs apply -f "$work/w4.yaml" 2>&1)
expect_ok "an apply through it fails" test "$?" != 0
expect_contains "saying nothing was applied" "$out" "nothing applied"
expect_contains "and why: the certificate" "$out" "certificate"
keys=$(etcd_https /v3/kv/range "{\"key\":\"$(printf '/zeroseg/v1/' | base64)\",\"range_end\":\"$(printf '/zeroseg/v10' | base64)\",\"keys_only\":true}" "${good[@]}" |
  python3 -c 'import base64,json,sys; print(" ".join(base64.b64decode(k["key"]).decode() for k in json.load(sys.stdin).get("kvs", [])))')
expect_contains "etcd is readable with the lab's certificate" "$keys" "/zeroseg/v1/nodes/$LAB-n1"
case " $keys " in
  *"$LAB-n4"* | *intruder*) fail "the foreign agent wrote to etcd: $keys" ;;
  *) pass "the foreign agent wrote nothing to etcd (no node key, no workload)" ;;
esac
expect_eq "node 1 does not know the intruder" "$(clab_identity_of 1 prod/intruder)" ""
clab_stop "$fdir/agent.pid"
nsenter --net="/run/netns/$(clab_node 3)" "$ZEROSEG" bpf uninstall --bpf-pin-dir "$fpin" >/dev/null 2>&1
rm -rf "$fpin"

clab_down
trap 'rm -rf "$work"' EXIT
e2e_nothing_left "$LAB" "$(clab_pin 1)"
expect_ok "the foreign agent's pin dir removed" test ! -e "$fpin"
e2e_summary
