// SPDX-License-Identifier: Apache-2.0
// ns/packet through BPF_PROG_TEST_RUN for the XDP and the tc program:
// established flow, new flow allowed, new flow denied, with 10 .. 100k rules
// and prefixes, against a trivial program measured in the same run (the
// floor), and against the same with one conntrack lookup (the least an
// established packet can cost). Prints markdown tables for bench/RESULTS.md.
//
//   sudo build/bench/datapath_bench [--quick]
//   sudo build/bench/datapath_bench --established
//     (the established path alone, XDP and tc, against both floors: best
//     of 200 interleaved rounds, tighter than the full run's 9)
//   sudo perf record -g -- build/bench/datapath_bench --profile-established
//     (runs only established packets through XDP, 10 rules, for a profile)
//
// Medians and minimums over interleaved rounds: see bench/RESULTS.md.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/identity.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "loader/datapath.h"
#include "abi/port_ranges.h"
#include "loader/slot_access.h"
#include "loader/test_run.h"
#include "loader/transaction.h"
#include "floor.skel.h"
#include "net/packet_builder.h"

using namespace zeroseg;

namespace {

constexpr uint32_t kIfindex = 1;  // lo: test runs need a real device
constexpr uint32_t kSubject = 300, kFirstPeer = 1000;

struct FloorDeleter {
  void operator()(floor_bpf* s) const { floor_bpf__destroy(s); }
};

std::string peer_ip(uint32_t i) {
  return "10." + std::to_string(64 + (i >> 16)) + "." + std::to_string((i >> 8) & 0xff) + "." +
         std::to_string(i & 0xff);
}

std::vector<uint8_t> tcp_from(uint32_t peer, uint16_t sport, uint16_t dport, uint8_t flags) {
  return PacketBuilder().eth().ipv4(peer_ip(peer), "10.0.1.10").tcp(sport, dport, flags).payload(18).build();
}

double median(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void drain(Datapath& dp) {
  ring_buffer* rb = ring_buffer__new(dp.map("zs_events").fd(), [](void*, void*, size_t) { return 0; }, nullptr, nullptr);
  ring_buffer__consume(rb);
  ring_buffer__free(rb);
}

// N peers, each a /32 with its own identity and one rule (tcp/80); plus a
// /24 and a /16 and a port range so several lengths are probed.
void install(Datapath& dp, uint32_t n, zs_attach_kind kind) {
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
  for (uint32_t i = 0; i < n; i++) {
    tx.set_identity(*Prefix::parse(peer_ip(i)), kFirstPeer + i);
    zs_policy_key k{};
    k.subject = kSubject;
    k.peer = kFirstPeer + i;
    k.direction = ZS_DIR_INGRESS;
    k.proto = 6;
    k.port = 80;
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

struct Config {
  uint32_t n;
  std::unique_ptr<Datapath> dp;
};

struct Stats {
  double floor = 1e18, lookup_floor = 1e18, established = 1e18, denied = 1e18;
  std::vector<uint32_t> allowed, floor_one;
};

// The two floors of bpf/floor.bpf.c, loaded, with the key the lookup floor
// finds in its map.
class Floors {
 public:
  Floors() : skel_(floor_bpf__open_and_load()) {
    if (!skel_) throw Error("loading the floor programs failed");
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
  int floor(Program p) const {
    return bpf_program__fd(p == Program::xdp_ingress ? skel_->progs.zs_floor_xdp : skel_->progs.zs_floor_tc);
  }
  int lookup(Program p) const {
    return bpf_program__fd(p == Program::xdp_ingress ? skel_->progs.zs_floor_lookup_xdp
                                                     : skel_->progs.zs_floor_lookup_tc);
  }

 private:
  std::unique_ptr<floor_bpf, FloorDeleter> skel_;
};

const std::vector<std::pair<const char*, Program>> kHooks = {{"xdp", Program::xdp_ingress},
                                                             {"tc", Program::tc_ingress}};

// --established: floor, lookup floor and established, interleaved.
int established_only() {
  MapSizes ms;
  ms.conntrack4 = ms.conntrack6 = 65536;
  auto dp = Datapath::load({.sizes = ms, .pin = false});
  install(*dp, 10, ZS_ATTACH_HOST);
  // the same packets leaving a workload (arriving on its veth): its egress
  // passes (mode off), its source is its own (source validation's hit)
  auto wl = Datapath::load({.sizes = ms, .pin = false});
  install(*wl, 10, ZS_ATTACH_WORKLOAD);
  {
    Transaction tx(*wl);
    zs_endpoint ep{};
    ep.identity = kSubject;
    ep.kind = ZS_ATTACH_WORKLOAD;
    ep.mode[ZS_DIR_INGRESS] = ZS_MODE_ENFORCE;
    tx.set_endpoint(kIfindex, ep);
    tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse(peer_ip(9))), ZS_SOURCE_OWN);
    tx.commit();
  }
  Floors floors;
  auto syn = tcp_from(9, 40000, 80, PacketBuilder::kSyn);
  auto ack = tcp_from(9, 40000, 80, PacketBuilder::kAck);
  std::vector<Stats> stats(kHooks.size() * 2);
  const int rounds = 200;
  for (int round = 0; round < rounds; round++) {
    if (round % 50 == 0) std::fprintf(stderr, "round %d/%d\n", round + 1, rounds);
    for (size_t i = 0; i < stats.size(); i++) {
      size_t hi = i % kHooks.size();
      Datapath& d = i < kHooks.size() ? *dp : *wl;
      Program prog = kHooks[hi].second;
      Stats& st = stats[i];
      if (round == 0) test_run(d.program_fd(prog), prog, syn, kIfindex);
      st.floor = std::min<double>(st.floor, test_run(floors.floor(prog), prog, syn, kIfindex, 100000).duration_ns);
      st.lookup_floor =
          std::min<double>(st.lookup_floor, test_run(floors.lookup(prog), prog, syn, kIfindex, 100000).duration_ns);
      st.established =
          std::min<double>(st.established, test_run(d.program_fd(prog), prog, ack, kIfindex, 100000).duration_ns);
    }
  }
  std::printf("| hook | floor | floor + 1 ct lookup | established | established - floor | established - floor - lookup |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < stats.size(); i++) {
    const Stats& st = stats[i];
    std::string hook = std::string(kHooks[i % kHooks.size()].first) + (i < kHooks.size() ? ", uplink" : ", workload");
    std::printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n", hook.c_str(), st.floor, st.lookup_floor,
                st.established, st.established - st.floor, st.established - st.lookup_floor);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (argc > 1 && std::string(argv[1]) == "--established") return established_only();
  if (argc > 1 && std::string(argv[1]) == "--profile-established") {
    MapSizes ms;
    ms.conntrack4 = ms.conntrack6 = 65536;
    auto dp = Datapath::load({.sizes = ms, .pin = false});
    install(*dp, 10, ZS_ATTACH_HOST);
    int fd = dp->program_fd(Program::xdp_ingress);
    test_run(fd, Program::xdp_ingress, tcp_from(9, 40000, 80, PacketBuilder::kSyn), kIfindex);
    auto ack = tcp_from(9, 40000, 80, PacketBuilder::kAck);
    double best = 1e18;
    for (int i = 0; i < 200; i++)
      best = std::min<double>(best, test_run(fd, Program::xdp_ingress, ack, kIfindex, 100000).duration_ns);
    std::printf("established, xdp, best of 200 x 100k: %.0f ns\n", best);
    return 0;
  }
  const uint32_t repeat = quick ? 20000 : 100000;
  const int rounds = quick ? 3 : 9;
  const uint32_t new_flows_per_round = quick ? 500 : 2000;
  const std::vector<uint32_t> sizes = {10, 1000, 10000, 100000};
  const auto& hooks = kHooks;

  // One datapath (own maps) per size, measured in interleaved rounds, so
  // that the machine's drift hits every size alike.
  std::vector<Config> configs;
  for (uint32_t n : sizes) {
    std::fprintf(stderr, "loading a datapath with %u rules and prefixes ...\n", n);
    MapSizes ms;
    ms.conntrack4 = ms.conntrack6 = 65536;
    Config c{n, Datapath::load({.sizes = ms, .pin = false})};
    // the endpoint's conntrack share is checked on every new flow but never
    // reached: 36k new flows of one endpoint would pass 25% of 64k
    c.dp->set_ct_endpoint_share_entries(ms.conntrack4, ms.conntrack6);
    install(*c.dp, n, ZS_ATTACH_HOST);  // XDP and tc ingress both judge ingress
    configs.push_back(std::move(c));
  }
  Floors floors;
  auto floor_fd = [&](Program p) { return floors.floor(p); };
  auto lookup_floor_fd = [&](Program p) { return floors.lookup(p); };

  std::vector<std::vector<Stats>> stats(configs.size(), std::vector<Stats>(hooks.size()));
  for (int round = 0; round < rounds; round++) {
    std::fprintf(stderr, "round %d/%d\n", round + 1, rounds);
    for (size_t ci = 0; ci < configs.size(); ci++) {
      Datapath& dp = *configs[ci].dp;
      const uint32_t peer = configs[ci].n - 1;  // the newest entry
      for (size_t hi = 0; hi < hooks.size(); hi++) {
        Program prog = hooks[hi].second;
        int fd = dp.program_fd(prog), ffd = floor_fd(prog);
        Stats& st = stats[ci][hi];
        auto syn = tcp_from(peer, 40000, 80, PacketBuilder::kSyn);
        st.floor = std::min<double>(st.floor, test_run(ffd, prog, syn, kIfindex, repeat).duration_ns);
        st.lookup_floor = std::min<double>(
            st.lookup_floor, test_run(lookup_floor_fd(prog), prog, syn, kIfindex, repeat).duration_ns);
        // established: one flow, every packet a conntrack hit
        test_run(fd, prog, syn, kIfindex);
        auto ack = tcp_from(peer, 40000, 80, PacketBuilder::kAck);
        st.established = std::min<double>(st.established, test_run(fd, prog, ack, kIfindex, repeat).duration_ns);
        // new flow denied: no rule for port 81; deny events are rate-limited
        auto denied = tcp_from(peer, 40000, 81, PacketBuilder::kSyn);
        st.denied = std::min<double>(st.denied, test_run(fd, prog, denied, kIfindex, repeat).duration_ns);
        // new flow allowed: each packet a new source port, timed one by one
        for (uint32_t i = 0; i < new_flows_per_round; i++) {
          uint16_t sport = static_cast<uint16_t>(1024 + (round * hooks.size() + hi) * new_flows_per_round + i);
          auto pkt = tcp_from(peer, sport, 80, PacketBuilder::kSyn);
          st.allowed.push_back(test_run(fd, prog, pkt, kIfindex).duration_ns);
          st.floor_one.push_back(test_run(ffd, prog, pkt, kIfindex).duration_ns);
        }
        drain(dp);
      }
    }
  }

  std::printf("| hook | rules & prefixes | floor | floor + 1 ct lookup | established | new flow denied | new flow allowed (median) | floor (median, 1 run) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t hi = 0; hi < hooks.size(); hi++)
    for (size_t ci = 0; ci < configs.size(); ci++) {
      const Stats& st = stats[ci][hi];
      std::printf("| %s | %u | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", hooks[hi].first, configs[ci].n, st.floor,
                  st.lookup_floor, st.established, st.denied, median(st.allowed), median(st.floor_one));
    }
  std::printf("\n| hook | established - floor | one ct lookup | established - floor - lookup | new denied - floor | new allowed - floor | denied 100k/10 | allowed 100k/10 |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t hi = 0; hi < hooks.size(); hi++) {
    const Stats& small = stats.front()[hi];
    const Stats& big = stats.back()[hi];
    double denied_small = small.denied - small.floor, denied_big = big.denied - big.floor;
    double allowed_small = median(small.allowed) - median(small.floor_one);
    double allowed_big = median(big.allowed) - median(big.floor_one);
    double lookup = big.lookup_floor - big.floor;
    std::printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |\n", hooks[hi].first,
                big.established - big.floor, lookup, big.established - big.lookup_floor, denied_big, allowed_big, denied_big / std::max(1.0, denied_small),
                allowed_big / std::max(1.0, allowed_small));
  }
  return 0;
}
