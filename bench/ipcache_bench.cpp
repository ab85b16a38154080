// SPDX-License-Identifier: Apache-2.0
// The ipcache choice, measured: an LPM trie against a hash per prefix
// length, with 10 .. 100k prefixes, for an address that hits a /32 and one
// that matches nothing (world). Prints a markdown table.
//
//   sudo build/bench/ipcache_bench
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "loader/test_run.h"
#include "ipcache_lookup.skel.h"
#include "net/packet_builder.h"

using namespace zeroseg;

namespace {

struct SkelDeleter {
  void operator()(ipcache_lookup_bpf* s) const { ipcache_lookup_bpf__destroy(s); }
};

struct LpmKey {
  uint32_t prefixlen, addr;
};

// Prefixes as a real ipcache holds them: mostly workload /32s, some CIDRs.
struct Entry {
  uint32_t addr;  // host order
  uint8_t len;
};

std::vector<Entry> prefixes(uint32_t n) {
  std::vector<Entry> out;
  for (uint32_t i = 0; i < n; i++) {
    if (i % 50 == 49) out.push_back({(172u << 24) | (i << 8), 24});  // a CIDR now and then
    else out.push_back({(10u << 24) | (i * 7919 % (1u << 22)), 32});    // spread-out /32s
  }
  return out;
}

double best_ns(int fd, const std::vector<uint8_t>& pkt) {
  double best = 1e18;
  for (int r = 0; r < 9; r++) best = std::min<double>(best, test_run(fd, Program::xdp_ingress, pkt, 1, 200000).duration_ns);
  return best;
}

}  // namespace

int main() {
  std::printf("| prefixes | LPM trie, /32 hit | hash per length, /32 hit | LPM trie, no match near entries | LPM trie, no match far | hash, no match (3 lengths) |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|\n");
  for (uint32_t n : {10u, 1000u, 10000u, 100000u}) {
    std::unique_ptr<ipcache_lookup_bpf, SkelDeleter> skel(ipcache_lookup_bpf__open());
    // probe /32, then /24, then /16 (a length in use with no entry here)
    skel->rodata->lens[0] = 3;
    skel->rodata->lens[1] = 32;
    skel->rodata->lens[2] = 24;
    skel->rodata->lens[3] = 16;
    if (ipcache_lookup_bpf__load(skel.get())) {
      std::fprintf(stderr, "loading the bench programs failed\n");
      return 1;
    }
    int lpm = bpf_map__fd(skel->maps.bench_lpm), hash = bpf_map__fd(skel->maps.bench_hash);
    uint32_t one = 1;
    auto entries = prefixes(n);
    for (const auto& e : entries) {
      uint32_t mask = e.len == 32 ? ~0u : ~0u << (32 - e.len);
      LpmKey lk{e.len, htonl(e.addr & mask)};
      bpf_map_update_elem(lpm, &lk, &one, 0);
      zs_ipcache_key hk{};
      hk.family = ZS_FAMILY_IPV4;
      hk.prefixlen = e.len;
      hk.addr[0] = htonl(e.addr & mask);
      bpf_map_update_elem(hash, &hk, &one, 0);
    }
    in_addr hit{htonl(entries[n / 2 % n].len == 32 ? entries[n / 2].addr : entries[0].addr)};
    auto pkt_hit = PacketBuilder().eth().ipv4(inet_ntoa(hit), "10.200.0.1").udp(1, 2).build();
    auto pkt_miss = PacketBuilder().eth().ipv4("198.51.100.7", "10.200.0.1").udp(1, 2).build();
    auto pkt_near = PacketBuilder().eth().ipv4("10.63.255.253", "10.200.0.1").udp(1, 2).build();
    int lpm_fd = bpf_program__fd(skel->progs.zs_bench_lpm), hash_fd = bpf_program__fd(skel->progs.zs_bench_hash);
    std::printf("| %u | %.0f | %.0f | %.0f | %.0f | %.0f |\n", n, best_ns(lpm_fd, pkt_hit), best_ns(hash_fd, pkt_hit),
                best_ns(lpm_fd, pkt_near), best_ns(lpm_fd, pkt_miss), best_ns(hash_fd, pkt_miss));
    std::fflush(stdout);
  }
  return 0;
}
