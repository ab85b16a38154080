// SPDX-License-Identifier: Apache-2.0
#include "policy/compiler.h"

#include <zeroseg/identity.h>
#include <zeroseg/proto.h>

#include <algorithm>
#include <functional>
#include <unordered_map>

#include "common/time.h"
#include "policy/compilation.h"

namespace zeroseg {

Labels identity_labels(const Workload& w, const Labels& namespace_labels) {
  Labels l = w.meta.labels;
  l["zeroseg.io/namespace"] = w.meta.ns;
  for (const auto& [k, v] : namespace_labels) l["ns:" + k] = v;
  return l;
}

std::vector<Prefix> disjoint_prefixes(std::vector<Prefix> prefixes) {
  // an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/n, n >= 96) is the IPv4
  // prefix the datapath's trie reads it as: IPv4, so that other workloads'
  // IPv4 addresses inside it are carved out (carved_out_sources)
  for (auto& p : prefixes) {
    const auto& b = p.addr.bytes;
    if (p.addr.family == 6 && p.len >= 96 && std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return !x; }) &&
        b[10] == 0xff && b[11] == 0xff) {
      IpAddr v4;
      v4.family = 4;
      std::copy(b.begin() + 12, b.end(), v4.bytes.begin());
      p = Prefix::of(v4, static_cast<uint8_t>(p.len - 96));
    }
  }
  // sorted by (family, address, length): a prefix inside another comes
  // after it, before anything beside it
  std::sort(prefixes.begin(), prefixes.end());
  std::vector<Prefix> out;
  for (const auto& p : prefixes)
    if (out.empty() || out.back().addr.family != p.addr.family || !out.back().contains(p)) out.push_back(p);
  return out;
}

std::vector<IpAddr> carved_out_sources(const CompiledEndpoint& ep,
                                       const SharedMap<IpAddr, std::string>& workloads_by_ip) {
  std::vector<IpAddr> out;
  for (const auto& p : ep.allowed_sources) {
    // workloads_by_ip is sorted as prefixes are: a prefix's addresses from
    // its first on (a router's /0 visits every workload of its family once)
    for (auto it = workloads_by_ip.lower_bound(p.addr); it != workloads_by_ip.end() && p.contains(it->first); ++it)
      if (std::find(ep.ips.begin(), ep.ips.end(), it->first) == ep.ips.end()) out.push_back(it->first);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// a outlives b (0: never expires)
bool outlives(uint64_t a, uint64_t b) { return a != b && (a == 0 || (b != 0 && a > b)); }

}  // namespace

// The entry is the best of its votes, whatever their order: an enforced
// deny beats an audit one, then the longest-lived wins, then the lowest
// rule id; the same for allows.
void fold_vote(zs_policy_entry& e, const PolicyVote& v) {
  if (v.deny) {
    bool take = !e.deny_rule || (e.deny_audit && !v.audit) ||
                (e.deny_audit == v.audit && (outlives(v.expires_tai, e.deny_expires) ||
                                             (v.expires_tai == e.deny_expires && v.rule_id < e.deny_rule)));
    if (take) {
      e.deny_rule = v.rule_id;
      e.deny_expires = v.expires_tai;
      e.deny_audit = v.audit;
    }
  } else if (!e.allow_rule || outlives(v.expires_tai, e.allow_expires) ||
             (v.expires_tai == e.allow_expires && v.rule_id < e.allow_rule)) {
    e.allow_rule = v.rule_id;
    e.allow_expires = v.expires_tai;
  }
}

using compiling::Compilation;

Compiled PolicyCompiler::compile(const ObjectSet& state) { return Compilation(state, identities_, rule_ids_).run(); }

std::optional<Compiled> PolicyCompiler::compile_policies(const ObjectSet& state, const ObjectSet& prev_state,
                                                         const Compiled& prev) {
  return Compilation(state, identities_, rule_ids_).run_policies(prev_state, prev);
}

std::optional<Compiled> PolicyCompiler::compile_workloads(const ObjectSet& state, const ObjectSet& prev_state,
                                                          const Compiled& prev) {
  return Compilation(state, identities_, rule_ids_).run_workloads(prev_state, prev);
}

}  // namespace zeroseg
