// SPDX-License-Identifier: Apache-2.0
// ns/packet through BPF_PROG_TEST_RUN for the XDP and the tc program:
// established flow, new flow allowed, new flow denied, IPv4 and IPv6, with
// 10 .. 1M rules over 10 .. 100k prefixes per family (addresses and ports
// drawn at random from what is installed), against a trivial program
// measured in the same run (the floor). Prints a markdown table; --json
// writes every round (bench/run.sh makes the report from it).
//
//   sudo build/bench/datapath_bench [--quick] [--json PATH]
//   sudo build/bench/datapath_bench --established
//     (the established path alone, XDP and tc, against both floors: best
//     of 200 interleaved rounds, tighter than the full run's 9)
//   sudo perf record -g -- build/bench/datapath_bench --profile-established
//     (runs only established packets through XDP, 10 rules, for a profile)
//   sudo build/bench/datapath_bench --new-flow [ROUNDS]
//     (new allowed flows alone, 10 rules, XDP and tc, IPv4 and IPv6, each
//     packet a new flow timed on its own against the floor timed alike:
//     median over 1000 packets per round, median and spread over rounds)
//   sudo perf record -a -g -- build/bench/datapath_bench --profile-new-flow
//     (new allowed IPv4 flows through XDP, 10 rules, for a profile)
//   sudo build/bench/datapath_bench --new-flow-burst [ROUNDS]
//     (new allowed flows back to back, the code warm: a run of 500 SYNs,
//     each a new flow, through a wrapper that tail-calls the program;
//     bench/new_flow_burst.cpp)
//   sudo build/bench/datapath_bench --new-flow-memory [ROUNDS]
//     (the new-flow floor on an array of buckets by the memory its flows
//     span, 256 to 65536 flows, beside the LRU hash's: what a new flow's
//     cost owes to memory; bench/new_flow_memory.cpp)
//   sudo build/bench/datapath_bench --new-flow-behind [ROUNDS]
//     (as --new-flow, with the event ring's reader behind: each cell starts
//     with 1000 records waiting, past the wakeup mark, and nothing is read
//     until the cell ends, as when the agent falls behind a burst)
//
// Medians over interleaved rounds: see bench/RESULTS.md.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/identity.h>

#include <algorithm>
#include <cstdlib>
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
#include "datapath_bench_setup.h"
#include "new_flow_burst.h"
#include "new_flow_memory.h"
#include "net/packet_builder.h"

using namespace zeroseg;
using namespace zeroseg::bench;

namespace {

struct Stats {
  double floor = 1e18, lookup_floor = 1e18, established = 1e18;
};

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

// The matrix: established / new allowed / new denied, IPv4 and IPv6, XDP and
// tc, rules on a log scale. One datapath (own maps) per size, measured in
// interleaved rounds so that the machine's drift hits every size alike;
// each round draws its peer (address) and port at random from what is
// installed. Per round: the mean of `repeat` runs (floor, established,
// denied), the median of single runs (new allowed, denied from random
// peers, their floor).
// new_denied repeats one packet (its caches stay warm); new_denied_random
// times single packets, each from a peer drawn at random, as a flood from
// many sources arrives
const char* const kScenarios[] = {"established", "new_denied", "new_allowed", "new_denied_random"};
constexpr int kNumScenarios = 4;

struct Cell {  // one family x hook x size: per round, per scenario
  std::vector<double> floor, floor_one, ns[kNumScenarios];
};

void write_json(std::FILE* out, const char* family, const char* hook, uint32_t rules, const Cell& c) {
  auto list = [](const std::vector<double>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(static_cast<long>(v[i]));
    return s + "]";
  };
  for (int sc = 0; sc < kNumScenarios; sc++)
    std::fprintf(out,
                 "{\"bench\":\"datapath\",\"family\":\"%s\",\"hook\":\"%s\",\"rules\":%u,\"prefixes\":%u,"
                 "\"scenario\":\"%s\",\"ns\":%s,\"floor_ns\":%s}\n",
                 family, hook, rules, prefixes_for(rules), kScenarios[sc], list(c.ns[sc]).c_str(),
                 list(sc >= 2 ? c.floor_one : c.floor).c_str());
}

double over_floor(const std::vector<double>& x, const std::vector<double>& floor) {
  std::vector<double> d;
  for (size_t i = 0; i < x.size(); i++) d.push_back(x[i] - floor[i]);
  return median(d);
}

int matrix(bool quick, const char* json_path) {
  const uint32_t repeat = quick ? 20000 : 100000;
  const int rounds = quick ? 3 : 9;
  const uint32_t new_flows_per_round = quick ? 200 : 1000;
  const std::vector<uint32_t> sizes =
      quick ? std::vector<uint32_t>{10, 1000} : std::vector<uint32_t>{10, 100, 1000, 10000, 100000, 1000000};
  std::vector<std::unique_ptr<Datapath>> dps;
  for (uint32_t n : sizes) {
    std::fprintf(stderr, "loading a datapath with %u rules, %u prefixes per family ...\n", n, prefixes_for(n));
    MapSizes ms;
    ms.conntrack4 = ms.conntrack6 = 65536;
    ms.policy = std::max(ms.policy, n + 1024);
    ms.ipcache = std::max(ms.ipcache, 2 * prefixes_for(n) + 1024);
    auto dp = Datapath::load({.sizes = ms, .pin = false});
    // the endpoint's conntrack share is checked on every new flow but never
    // reached: the new flows of one endpoint would pass 25% of 64k
    dp->set_ct_endpoint_share_entries(ms.conntrack4, ms.conntrack6);
    install(*dp, n, ZS_ATTACH_HOST);  // XDP and tc ingress both judge ingress
    dps.push_back(std::move(dp));
  }
  Floors floors;
  Xorshift32 rng;  // the same draws on every run
  auto draw = [&rng](uint32_t below) {
    return rng.next() % below;
  };
  // [size][family][hook]
  std::vector<Cell> cells(sizes.size() * 2 * kHooks.size());
  auto cell = [&](size_t ci, int v6, size_t hi) -> Cell& { return cells[(ci * 2 + v6) * kHooks.size() + hi]; };
  uint16_t sport = 1024;
  for (int round = 0; round < rounds; round++) {
    std::fprintf(stderr, "round %d/%d\n", round + 1, rounds);
    for (size_t ci = 0; ci < sizes.size(); ci++) {
      Datapath& dp = *dps[ci];
      const uint32_t peers = prefixes_for(sizes[ci]), ports = (sizes[ci] + peers - 1) / peers;
      for (int v6 = 0; v6 < 2; v6++)
        for (size_t hi = 0; hi < kHooks.size(); hi++) {
          Program prog = kHooks[hi].second;
          int fd = dp.program_fd(prog), ffd = floors.floor(prog);
          Cell& c = cell(ci, v6, hi);
          // a peer and one of its ports, drawn from what is installed
          auto pick = [&](uint32_t& peer, uint16_t& port) {
            do {
              peer = draw(peers);
              port = static_cast<uint16_t>(kPort + draw(ports));
            } while ((port - kPort) * peers + peer >= sizes[ci]);
          };
          uint32_t peer;
          uint16_t port;
          pick(peer, port);
          auto syn = tcp_from(peer, sport, port, PacketBuilder::kSyn, v6);
          c.floor.push_back(test_run(ffd, prog, syn, kIfindex, repeat).duration_ns);
          test_run(fd, prog, syn, kIfindex);  // established: one flow, every packet a conntrack hit
          auto ack = tcp_from(peer, sport++, port, PacketBuilder::kAck, v6);
          c.ns[0].push_back(test_run(fd, prog, ack, kIfindex, repeat).duration_ns);
          // new flow denied: no rule for the port; deny events are rate-limited
          auto denied = tcp_from(peer, sport++, kDeniedPort, PacketBuilder::kSyn, v6);
          c.ns[1].push_back(test_run(fd, prog, denied, kIfindex, repeat).duration_ns);
          // new flow allowed (denied): each packet a new flow from a random
          // peer, timed one by one
          std::vector<uint32_t> allowed, denied_random, floor_one;
          for (uint32_t i = 0; i < new_flows_per_round; i++) {
            pick(peer, port);
            auto pkt = tcp_from(peer, sport++, port, PacketBuilder::kSyn, v6);
            allowed.push_back(test_run(fd, prog, pkt, kIfindex).duration_ns);
            floor_one.push_back(test_run(ffd, prog, pkt, kIfindex).duration_ns);
            pick(peer, port);
            auto no = tcp_from(peer, sport++, kDeniedPort, PacketBuilder::kSyn, v6);
            denied_random.push_back(test_run(fd, prog, no, kIfindex).duration_ns);
            // read the events as the agent would: a ring left holding 64 KiB
            // forces a wakeup (an irq_work, a self-IPI) per later event
            // (bpf/lib/events.h), and that, not the datapath, was then
            // timed: ~5-7 us per packet in a cell of 1000 (issue 16)
            if (i % 200 == 199) drain(dp);
          }
          c.ns[2].push_back(median(allowed));
          c.ns[3].push_back(median(denied_random));
          c.floor_one.push_back(median(floor_one));
          drain(dp);
        }
    }
  }
  std::FILE* out = json_path ? std::fopen(json_path, "w") : nullptr;
  if (json_path && !out) throw Error(std::string("cannot write ") + json_path);
  std::printf("| family | hook | rules | prefixes | floor | established - floor | new denied - floor | new allowed - floor | new denied, random peers - floor |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int v6 = 0; v6 < 2; v6++)
    for (size_t hi = 0; hi < kHooks.size(); hi++)
      for (size_t ci = 0; ci < sizes.size(); ci++) {
        const Cell& c = cell(ci, v6, hi);
        const char* family = v6 ? "ipv6" : "ipv4";
        std::printf("| %s | %s | %u | %u | %.0f | %.0f | %.0f | %.0f | %.0f |\n", family, kHooks[hi].first, sizes[ci],
                    prefixes_for(sizes[ci]), median(c.floor), over_floor(c.ns[0], c.floor),
                    over_floor(c.ns[1], c.floor), over_floor(c.ns[2], c.floor_one), over_floor(c.ns[3], c.floor_one));
        if (out) write_json(out, family, kHooks[hi].first, sizes[ci], c);
      }
  if (out) std::fclose(out);
  return 0;
}

// --new-flow: the new allowed flow alone, as the matrix times it (single
// runs, a new source port and a peer drawn at random each), with more
// rounds (at most 15, 7 behind: a source port is never reused, so every
// packet is a new flow and conntrack never fills).
int new_flow_only(int rounds, bool profile, bool behind) {
  MapSizes ms;
  ms.conntrack4 = ms.conntrack6 = 65536;
  auto dp = Datapath::load({.sizes = ms, .pin = false});
  dp->set_ct_endpoint_share_entries(ms.conntrack4, ms.conntrack6);
  install(*dp, 10, ZS_ATTACH_HOST);
  Floors floors;
  Xorshift32 rng;
  auto draw = [&rng](uint32_t below) {
    return rng.next() % below;
  };
  const uint32_t per_round = 1000;
  uint16_t sport = 1024;
  if (profile) {
    int fd = dp->program_fd(Program::xdp_ingress);
    for (int r = 0; r < rounds; r++) {
      for (uint32_t i = 0; i < per_round * 4; i++) {
        auto pkt = tcp_from(draw(10), sport++, kPort, PacketBuilder::kSyn);
        if (sport == 0) sport = 1024;
        test_run(fd, Program::xdp_ingress, pkt, kIfindex);
        if (i % 200 == 199) drain(*dp);  // as in matrix()
      }
      drain(*dp);
    }
    return 0;
  }
  // [family][hook]: per round, median of (new - floor)
  std::vector<std::vector<double>> over(4), over_mean(4);
  auto mean_of = [](const std::vector<uint32_t>& x) {
    double sum = 0;
    for (uint32_t v : x) sum += v;
    return x.empty() ? 0.0 : sum / static_cast<double>(x.size());
  };
  for (int round = 0; round < rounds; round++) {
    for (int v6 = 0; v6 < 2; v6++)
      for (size_t hi = 0; hi < kHooks.size(); hi++) {
        Program prog = kHooks[hi].second;
        int fd = dp->program_fd(prog), ffd = floors.floor(prog);
        std::vector<uint32_t> allowed, floor_one;
        // behind: 1000 records (88 KiB) wait before the first timed packet
        for (uint32_t i = 0; behind && i < per_round; i++) {
          test_run(fd, prog, tcp_from(draw(10), sport++, kPort, PacketBuilder::kSyn, v6), kIfindex);
          if (sport == 0) sport = 1024;
        }
        for (uint32_t i = 0; i < per_round; i++) {
          auto pkt = tcp_from(draw(10), sport++, kPort, PacketBuilder::kSyn, v6);
          if (sport == 0) sport = 1024;
          allowed.push_back(test_run(fd, prog, pkt, kIfindex).duration_ns);
          floor_one.push_back(test_run(ffd, prog, pkt, kIfindex).duration_ns);
          if (!behind && i % 200 == 199) drain(*dp);  // as in matrix()
        }
        over[v6 * 2 + hi].push_back(median(allowed) - median(floor_one));
        // the mean too: it carries what one run in a batch pays for all
        // (a staged flow start goes to the ring ZS_EVENTS_STAGED at a time)
        over_mean[v6 * 2 + hi].push_back(mean_of(allowed) - mean_of(floor_one));
        drain(*dp);
      }
  }
  std::printf(
      "| family | hook | new allowed - floor, ns: median (min-max over %d rounds) | the same, of each round's mean |\n"
      "|---|---|---:|---:|\n",
      rounds);
  for (int v6 = 0; v6 < 2; v6++)
    for (size_t hi = 0; hi < kHooks.size(); hi++) {
      auto v = over[v6 * 2 + hi], m = over_mean[v6 * 2 + hi];
      std::sort(v.begin(), v.end());
      std::sort(m.begin(), m.end());
      std::printf("| %s | %s | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) |\n", v6 ? "ipv6" : "ipv4", kHooks[hi].first,
                  median(v), v.front(), v.back(), median(m), m.front(), m.back());
    }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  const char* json_path = nullptr;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--new-flow" || a == "--profile-new-flow" || a == "--new-flow-behind") {
      int rounds = i + 1 < argc ? std::atoi(argv[i + 1]) : 0;
      const int most = a == "--new-flow-behind" ? 7 : 15;
      return new_flow_only(rounds > 0 ? std::min(rounds, most) : std::min(9, most), a == "--profile-new-flow",
                           a == "--new-flow-behind");
    } else if (a == "--new-flow-memory") {
      int rounds = i + 1 < argc ? std::atoi(argv[i + 1]) : 0;
      return new_flow_memory(rounds > 0 ? std::min(rounds, kNewFlowMemoryMostRounds) : 9);
    } else if (a == "--new-flow-burst") {
      int rounds = i + 1 < argc ? std::atoi(argv[i + 1]) : 0;
      return new_flow_burst(rounds > 0 ? std::min(rounds, kNewFlowBurstMostRounds) : 9);
    } else if (a != "--established" && a != "--profile-established") {
      std::fprintf(stderr, "usage: datapath_bench [--quick] [--json PATH] | --established | --profile-established | --new-flow [N] | --profile-new-flow | --new-flow-behind [N] | --new-flow-burst [N] | --new-flow-memory [N]\n");
      return 2;
    }
  }
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
  return matrix(quick, json_path);
}
