// SPDX-License-Identifier: Apache-2.0
#include "datapath_bench_setup.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/identity.h>

#include <algorithm>
#include <cstdio>

#include "abi/port_ranges.h"
#include "common/error.h"
#include "floor.skel.h"
#include "loader/transaction.h"
#include "net/packet_builder.h"

namespace zeroseg::bench {

std::string peer_ip(uint32_t i) {
  return "10." + std::to_string(64 + (i >> 16)) + "." + std::to_string((i >> 8) & 0xff) + "." +
         std::to_string(i & 0xff);
}

std::string peer_ip6(uint32_t i) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "fd00:64::%x:%x", i >> 16, i & 0xffff);
  return buf;
}

std::vector<uint8_t> tcp_from(uint32_t peer, uint16_t sport, uint16_t dport, uint8_t flags, bool v6) {
  PacketBuilder b;
  b.eth();
  if (v6) b.ipv6(peer_ip6(peer), "fd00:1::10");
  else b.ipv4(peer_ip(peer), "10.0.1.10");
  return b.tcp(sport, dport, flags).payload(18).build();
}

std::string spread_cell(std::vector<double> v) {
  if (v.empty()) return "-";
  std::sort(v.begin(), v.end());
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f (%.0f-%.0f)", median(v), v.front(), v.back());
  return buf;
}

int drain_ring(int ring_fd) {
  ring_buffer* rb = ring_buffer__new(ring_fd, [](void*, void*, size_t) { return 0; }, nullptr, nullptr);
  int n = ring_buffer__consume(rb);
  ring_buffer__free(rb);
  return n;
}

void install(Datapath& dp, uint32_t rules, zs_attach_kind kind) {
  Transaction tx(dp);
  zs_endpoint ep{};
  ep.identity = kSubject;
  ep.kind = static_cast<uint8_t>(kind);
  ep.mode[0] = ep.mode[1] = ZS_MODE_ENFORCE;
  tx.set_endpoint(kIfindex, ep);
  tx.set_identity(*Prefix::parse("10.63.0.0/16"), 900);
  tx.set_identity(*Prefix::parse("10.62.1.0/24"), 901);
  zs_policy_entry allow{};
  allow.allow_rule = 1;
  const uint32_t peers = prefixes_for(rules);
  for (uint32_t i = 0; i < peers; i++) {
    tx.set_identity(*Prefix::parse(peer_ip(i)), kFirstPeer + i);
    tx.set_identity(*Prefix::parse(peer_ip6(i)), kFirstPeer + i);
  }
  for (uint32_t r = 0; r < rules; r++) {
    zs_policy_key k{};
    k.subject = kSubject;
    k.peer = kFirstPeer + r % peers;
    k.direction = ZS_DIR_INGRESS;
    k.proto = 6;
    k.port = static_cast<uint16_t>(kPort + r / peers);
    k.port_plen = 16;
    tx.set_rule(k, allow);
  }
  for (auto pp : port_range_to_prefixes(8000, 8080)) {
    zs_policy_key k{};
    k.subject = kSubject;
    k.peer = 900;
    k.direction = ZS_DIR_INGRESS;
    k.proto = 6;
    k.port = pp.port;
    k.port_plen = pp.plen;
    tx.set_rule(k, allow);
  }
  tx.commit();
}

void Floors::Destroy::operator()(floor_bpf* s) const { floor_bpf__destroy(s); }

Floors::Floors(uint32_t conntrack_entries) : skel_(floor_bpf__open()) {
  if (!skel_) throw Error("opening the floor programs failed");
  if (bpf_map__set_max_entries(skel_->maps.zs_floor_flows4, conntrack_entries) ||
      bpf_map__set_max_entries(skel_->maps.zs_floor_flows6, conntrack_entries) || floor_bpf__load(skel_.get()))
    throw Error("loading the floor programs failed");
  zs_ct_key4 key{};  // the key zs_floor_lookup looks for
  key.ifindex = kIfindex;
  key.saddr = 0x0100000a;
  key.daddr = 0x0200000a;
  key.sport = 0x4000;
  key.dport = 0x5000;
  key.proto = 6;
  zs_ct_entry entry{};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.zs_floor_ct), &key, &entry, BPF_ANY))
    throw Error("filling the lookup floor's map failed");
}

int Floors::floor(Program p) const {
  return bpf_program__fd(p == Program::xdp_ingress ? skel_->progs.zs_floor_xdp : skel_->progs.zs_floor_tc);
}

int Floors::lookup(Program p) const {
  return bpf_program__fd(p == Program::xdp_ingress ? skel_->progs.zs_floor_lookup_xdp
                                                   : skel_->progs.zs_floor_lookup_tc);
}

int Floors::new_flow(Program p) const {
  return bpf_program__fd(p == Program::xdp_ingress ? skel_->progs.zs_floor_new_flow_xdp
                                                   : skel_->progs.zs_floor_new_flow_tc);
}

int Floors::new_flow_buckets(Program p) const {
  return bpf_program__fd(p == Program::xdp_ingress ? skel_->progs.zs_floor_new_flow_buckets_xdp
                                                   : skel_->progs.zs_floor_new_flow_buckets_tc);
}

void Floors::set_new_flow_buckets(uint32_t buckets, BucketWork work) const {
  if (buckets == 0 || (buckets & (buckets - 1)) || buckets > bpf_map__max_entries(skel_->maps.zs_floor_buckets))
    throw Error("the bucket floor's buckets must be a power of 2 within its table");
  skel_->data->zs_floor_bucket_mask = buckets - 1;
  skel_->data->zs_floor_bucket_store = work == BucketWork::store;
}

uint64_t Floors::bucket_claims() const { return skel_->bss->zs_floor_bucket_claims; }

size_t Floors::new_flow_held4() const {
  const int fd = bpf_map__fd(skel_->maps.zs_floor_flows4);
  zs_ct_key4 key{}, next{};
  size_t n = 0;
  for (const void* at = nullptr; bpf_map_get_next_key(fd, at, &next) == 0; at = &key, n++) key = next;
  return n;
}

int Floors::drain_new_flow() const { return drain_ring(bpf_map__fd(skel_->maps.zs_floor_events)); }

}  // namespace zeroseg::bench
