#!/usr/bin/env bash
# The VM lab's etcd (cluster mode, on node1) as the attacker VM meets it,
# without VMs: the stage scripts/vagrant-lab.sh makes, and etcd run with the
# arguments provision/node.sh gives it (vagrant/provision/topology.sh), in a
# namespace "node1" at 192.168.77.11 beside a namespace "attacker" at
# 192.168.77.66 on one link, as the lab's underlay puts them.
#   - the stage every VM gets (the attacker VM too) holds no key; node1 alone
#     gets etcd's server key; the CA's key is nowhere (no one mints a client);
#   - from the attacker: a write over plain http, over https without a client
#     certificate, and with a certificate of another CA, all refused, and
#     nothing written;
#   - with node2's certificate (what the lab's agents use) the write lands:
#     etcd is up and reachable there, so the refusals are etcd's, not a
#     missing route.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
e2e_require_root
for c in etcd openssl curl strip; do command -v "$c" >/dev/null || e2e_skip "$c missing"; done

tag=zs-r$(($$ % 100000))
work=$(mktemp -d "/var/tmp/$tag.XXXXXX")
n1="$tag-n1" at="$tag-at"
etcd_pid=''
cleanup() {
  [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
  ip netns del "$n1" 2>/dev/null
  ip netns del "$at" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export ZEROSEG_VAGRANT_STATE="$work/state" ZEROSEG_VAGRANT_LOCK="$work/lock"

echo "== the stage: what each VM gets"
# (the binary install: any ELF binary serves, nothing runs it here)
ZEROSEG_VAGRANT_INSTALL=binary ZEROSEG_VAGRANT_CLUSTER=1 \
  bash "$root/scripts/vagrant-lab.sh" stage /bin/true "$work/stage" >"$work/stage.log" 2>&1 ||
  { cat "$work/stage.log"; fail "vagrant-lab.sh stage"; e2e_summary; exit 1; }
keys=$(tar -tzf "$work/stage/stage.tar.gz" | grep -c -- '-key\.pem$')
expect_eq "keys in the stage every VM gets (the attacker's too)" "$keys" 0
tls=$work/stage-tls
for f in node1/ca.pem node1/client.pem node1/client-key.pem node1/server.pem node1/server-key.pem \
  node2/ca.pem node2/client.pem node2/client-key.pem; do
  if [ -s "$tls/$f" ]; then pass "stage-tls/$f made"; else fail "stage-tls/$f missing"; fi
done
if [ -e "$tls/node2/server-key.pem" ]; then fail "node2 got etcd's server key"; else pass "etcd's server key only on node1"; fi
if [ -n "$(find "$tls" -name 'ca-key*')" ] || [ -e "$tls/attacker" ]; then
  fail "the CA's key or an attacker's directory in the stage: $(find "$tls" | tr '\n' ' ')"
else pass "no CA key and nothing for the attacker VM"; fi
expect_eq "node2's client key mode" "$(stat -c %a "$tls/node2/client-key.pem")" 600

echo "== etcd on node1 as node.sh runs it; the attacker beside it"
ip netns add "$n1" && ip netns add "$at" &&
  ip -n "$n1" link add "$tag-e" type veth peer name "$tag-a" netns "$at" &&
  ip -n "$n1" addr add 192.168.77.11/24 dev "$tag-e" && ip -n "$at" addr add 192.168.77.66/24 dev "$tag-a" &&
  ip -n "$n1" link set "$tag-e" up && ip -n "$at" link set "$tag-a" up &&
  ip -n "$n1" link set lo up && ip -n "$at" link set lo up ||
  { fail "namespaces"; e2e_summary; exit 1; }
# shellcheck source=../../vagrant/provision/topology.sh
source "$root/vagrant/provision/topology.sh"
mapfile -t args < <(vm_etcd_args 192.168.77.11 "$tls/node1")
nsenter --net="/run/netns/$n1" etcd --name node1 --data-dir "$work/etcd" --log-level warn --logger zap \
  "${args[@]}" --initial-cluster "node1=http://127.0.0.1:2380" >"$work/etcd.log" 2>&1 &
etcd_pid=$!
mapfile -t n2cert < <(vm_etcd_curl "$tls/node2")
in_at() { nsenter --net="/run/netns/$at" "$@"; }
up=0
for _ in $(seq 100); do
  in_at curl -sf -m 2 "${n2cert[@]}" https://192.168.77.11:2379/health >/dev/null 2>&1 && { up=1; break; }
  sleep 0.2
done
[ $up = 1 ] || { cat "$work/etcd.log"; fail "etcd did not answer node2's certificate"; e2e_summary; exit 1; }

# put KEY (base64 "attack"/"n2") through curl OPTIONS... from the attacker's namespace
put() { local url=$1 key=$2; shift 2; in_at curl -s -m 5 "$@" -X POST -d "{\"key\":\"$key\",\"value\":\"eA==\"}" "$url/v3/kv/put"; }
got=$(put http://192.168.77.11:2379 YXR0YWNr 2>&1)
if grep -q '"revision"' <<<"$got"; then fail "attacker: plain http put accepted: $got"; else pass "attacker: plain http put refused"; fi
got=$(put https://192.168.77.11:2379 YXR0YWNr -k 2>&1)
if grep -q '"revision"' <<<"$got"; then fail "attacker: https put without a client certificate accepted: $got"
else pass "attacker: https put without a client certificate refused"; fi
mkdir -p "$work/other"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=node2" -keyout "$work/other/k.pem" \
  -out "$work/other/c.pem" 2>/dev/null
got=$(put https://192.168.77.11:2379 YXR0YWNr -k --cert "$work/other/c.pem" --key "$work/other/k.pem" 2>&1)
if grep -q '"revision"' <<<"$got"; then fail "attacker: a self-made certificate named node2 accepted: $got"
else pass "attacker: a self-made certificate named node2 refused"; fi
got=$(put https://192.168.77.11:2379 bjI= "${n2cert[@]}" 2>&1)
expect_contains "node2's certificate: put accepted" "$got" '"revision"'
got=$(in_at curl -s -m 5 "${n2cert[@]}" -X POST -d '{"key":"YXR0YWNr"}' https://192.168.77.11:2379/v3/kv/range 2>&1)
if grep -q '"kvs"' <<<"$got" || ! grep -q '"header"' <<<"$got"; then fail "the attacker's key is in etcd (or etcd did not answer): $got"
else pass "the attacker's key is not in etcd"; fi

cleanup
trap - EXIT
etcd_pid=''
e2e_nothing_left "$tag" "$work"
e2e_summary
