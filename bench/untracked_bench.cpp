// SPDX-License-Identifier: Apache-2.0
// ns/packet of an untracked deny on a host uplink (bpf/lib/untracked_deny.h)
// through BPF_PROG_TEST_RUN, XDP, against two programs measured in the same
// rounds: XDP_PASS (the floor) and a bare stateless CIDR filter (udp/9
// dropped when its IPv4 source's longest match in an LPM trie says deny;
// no counters, no event): bench/flood's zs_flood_pass and
// zs_flood_lpm_deny, veth_deny.sh's xdp-drop and xdp-lpm-deny rows.
//
//   sudo build/bench/untracked_bench [--rounds N] [--rules N]
//     --rounds  interleaved rounds of 100k runs each, the best kept (50)
//     --rules   /32 keys beside the deny /15 in the LPM filter's trie (10000);
//               zeroseg's trie holds the /15 alone, as veth_deny.sh's
//
// Rows: the LPM filter on a denied and on a passed packet; zeroseg on a
// denied packet whose event its source's empty bucket holds back (a flood
// from one source: the budget keeps its tokens) and one the CPU's spent
// budget does (a flood from many sources). Each repeats one packet, so
// caches stay warm: the instruction path's cost, without the packet's
// cache miss a veth adds (bench/veth_deny.sh has that).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <zeroseg/identity.h>
#include <zeroseg/types.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "flood.skel.h"
#include "loader/datapath.h"
#include "loader/test_run.h"
#include "loader/transaction.h"
#include "loader/untracked_tries.h"
#include "net/packet_builder.h"

using namespace zeroseg;

namespace {

constexpr uint32_t kIfindex = 1;  // lo: test runs need a real device
constexpr uint32_t kRepeat = 100000;

struct FloodDeleter {
  void operator()(flood_bpf* s) const { flood_bpf__destroy(s); }
};

std::vector<uint8_t> udp_from(const std::string& src) {
  return PacketBuilder().eth().ipv4(src, "198.51.100.1").udp(40000, 9).payload(18).build();
}

// The uplink (host, ingress enforced) and the untracked deny of
// 198.18.0.0/15, as bench/veth_deny.sh's zeroseg-xdp-untracked row.
void install(Datapath& dp) {
  Transaction tx(dp);
  zs_endpoint ep{};
  ep.identity = ZS_ID_HOST;
  ep.kind = ZS_ATTACH_HOST;
  ep.mode[ZS_DIR_INGRESS] = ep.mode[ZS_DIR_EGRESS] = ZS_MODE_ENFORCE;
  tx.set_endpoint(kIfindex, ep);
  zs_untracked_value deny{};
  deny.action = ZS_UNTRACKED_DENY;
  deny.rule_id = 1;
  tx.set_untracked(untracked_key(kIfindex, *Prefix::parse("198.18.0.0/15")), deny);
  tx.commit();
}

// flood_lpm as `flood attach lpm-deny:N` fills it (bench/flood/flood.c)
void fill_lpm(flood_bpf* skel, uint32_t rules) {
  int fd = bpf_map__fd(skel->maps.flood_lpm);
  struct Key {
    uint32_t prefixlen, addr;
  };
  uint32_t deny = 1, no = 0;
  Key k{15, htonl(0xc6120000u)};  // 198.18.0.0/15
  if (bpf_map_update_elem(fd, &k, &deny, BPF_ANY)) throw Error("filling flood_lpm failed");
  for (uint32_t i = 0; i < rules; i++) {
    Key r{32, htonl(0x64400000u + i)};  // 100.64.0.0 + i, as veth_deny.sh's allow rules
    if (bpf_map_update_elem(fd, &r, &no, BPF_ANY)) throw Error("filling flood_lpm failed");
  }
}

}  // namespace

int main(int argc, char** argv) try {
  int rounds = 50;
  uint32_t rules = 10000;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--rules" && i + 1 < argc) rules = static_cast<uint32_t>(std::atoi(argv[++i]));
    else throw Error("usage: untracked_bench [--rounds N] [--rules N]");
  }
  if (rounds < 1) throw Error("--rounds: at least 1");
  // a flood from one source (its bucket empty, the budget not spent) and
  // from many (the budget spent: one event a second here)
  auto one_source = Datapath::load({.pin = false});
  install(*one_source);
  auto budget_spent = Datapath::load({.pin = false});
  install(*budget_spent);
  budget_spent->set_deny_event_budget(1);
  std::unique_ptr<flood_bpf, FloodDeleter> peers(flood_bpf__open_and_load());
  if (!peers) throw Error("loading bench/flood's programs failed");
  fill_lpm(peers.get(), rules);

  const Program xdp = Program::xdp_ingress;
  const auto denied = udp_from("198.18.7.9"), passed = udp_from("203.0.113.9");
  const int lpm = bpf_program__fd(peers->progs.zs_flood_lpm_deny);
  struct Row {
    const char* name;
    int fd;
    const std::vector<uint8_t>& packet;
    bool drops;
    double best = 1e18;
  };
  std::vector<Row> rows = {
      {"XDP_PASS (floor)", bpf_program__fd(peers->progs.zs_flood_pass), denied, false},
      {"LPM filter, denied", lpm, denied, true},
      {"untracked deny, one source (its bucket empty)", one_source->program_fd(xdp), denied, true},
      {"untracked deny, many sources (the budget spent)", budget_spent->program_fd(xdp), denied, true},
      {"LPM filter, passed", lpm, passed, false},
  };
  // the buckets and the budget emptied, as under a flood; every row's
  // answer checked
  for (int i = 0; i < 10; i++)
    for (const Row& row : rows) test_run(row.fd, xdp, row.packet, kIfindex, kRepeat);
  for (const Row& row : rows)
    if (test_run_passed(xdp, test_run(row.fd, xdp, row.packet, kIfindex).retval) == row.drops)
      throw Error(std::string(row.name) + ": not the answer the bench expects");

  for (int r = 0; r < rounds; r++)
    for (Row& row : rows)
      row.best = std::min<double>(row.best, test_run(row.fd, xdp, row.packet, kIfindex, kRepeat).duration_ns);
  std::printf("| program (XDP, test_run, best of %d x %u) | ns/packet | over the floor |\n", rounds, kRepeat);
  std::printf("|---|---:|---:|\n");
  for (const Row& row : rows)
    std::printf("| %s | %.1f | %.1f |\n", row.name, row.best, row.best - rows[0].best);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "untracked_bench: %s\n", e.what());
  return 1;
}
