// SPDX-License-Identifier: Apache-2.0
// PolicyCompiler: the desired state (objects) in, the datapath's map
// contents out. Pure: no kernel, no files; unit-tested unprivileged.
#pragma once

#include <zeroseg/policy.h>

#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <tuple>
#include <vector>

#include "common/chunked_map.h"
#include "common/cow_map.h"
#include "common/shared_map.h"
#include "identity/allocator.h"
#include "policy/objects.h"
#include "policy/untracked_rules.h"

namespace zeroseg {

namespace compiling {
struct SelectorIndex;  // workload_churn.cpp
}

// Field by field (integer compares; padding is always zero and ignored):
// memcmp here was a fifth of a big compile.
struct PolicyKeyLess {
  bool operator()(const zs_policy_key& a, const zs_policy_key& b) const {
    return std::tie(a.subject, a.peer, a.direction, a.proto, a.port_plen, a.port) <
           std::tie(b.subject, b.peer, b.direction, b.proto, b.port_plen, b.port);
  }
};

// The compiled policy map: chunks by subject, shared between compiled
// states (an apply that changes a few subjects copies only theirs).
struct PolicyKeyChunk {
  uint64_t operator()(const zs_policy_key& k) const { return k.subject; }
};
using PolicyEntries = ChunkedMap<zs_policy_key, zs_policy_entry, PolicyKeyLess, PolicyKeyChunk>;

// What a rule id stands for, for flows and `policy trace`.
// Kept for each of 100k rules (in Compiled::rules): the policy's ref is
// one string per policy, shared, and the section a literal. (policy,
// section, index) finds the rule's text.
struct RuleInfo {
  std::shared_ptr<const std::string> policy_ref;  // Kind/namespace/name
  const char* section = "";  // ingress, egress, ingressDeny, egressDeny, ...
  uint32_t index = 0;
  bool audit = false;

  const std::string& policy() const { return *policy_ref; }
  std::string str() const { return policy() + " " + section + "[" + std::to_string(index) + "]"; }
};

// A rule's key for RuleIdAllocator: "Kind/namespace/name|section|index".
inline std::string rule_key(const std::string& policy_ref, const char* section, size_t index) {
  return policy_ref + "|" + section + "|" + std::to_string(index);
}

// One rule's say on one policy map key; votes on a key fold into its entry
// (fold_vote), in any order.
struct PolicyVote {
  uint32_t rule_id = 0;
  bool deny = false, audit = false;
  uint64_t expires_tai = 0;  // 0: never
};

void fold_vote(zs_policy_entry& e, const PolicyVote& v);

// What compiling one policy put in. Kept per policy so that a change of a
// few policies re-merges only the keys they touch (compile_policies).
struct PolicyPart {
  std::vector<uint32_t> subjects;                           // sorted
  std::vector<std::pair<zs_policy_key, PolicyVote>> votes;  // sorted by key
  std::vector<uint32_t> rule_ids;  // what they mean: Compiled::rules
  std::vector<Prefix> cidrs;  // the prefixes its peers name (cidrs and excepts)
};

// Rule ids' meanings, in chunks of 256 ids, shared the same way.
struct RuleIdChunk {
  uint64_t operator()(uint32_t id) const { return id >> 8; }
};
using RuleInfos = ChunkedMap<uint32_t, RuleInfo, std::less<uint32_t>, RuleIdChunk>;

struct CompiledEndpoint {
  std::string workload;  // namespace/name
  uint32_t identity = 0;
  zs_attach_kind kind = ZS_ATTACH_WORKLOAD;
  std::array<uint8_t, 2> mode{};  // zs_mode per zs_direction
  // The sources its egress may carry (include/zeroseg/source.h): its own
  // addresses, and its allowedSourcePrefixes made disjoint (a prefix
  // inside another is left out), as the datapath's prefix trie needs;
  // and the addresses of other workloads inside those prefixes, carved
  // out (denied_sources, sorted): every receiver's ipcache judges such a
  // source as that workload, so a router may not send from it.
  std::vector<IpAddr> ips;
  std::vector<Prefix> allowed_sources;
  std::vector<IpAddr> denied_sources;
  // A host endpoint's untracked deny entries (untracked_rules.h), sorted.
  std::vector<UntrackedEntry> untracked;
};

// allowedSourcePrefixes without the prefixes inside another, sorted.
std::vector<Prefix> disjoint_prefixes(std::vector<Prefix> prefixes);

// The addresses of workloads_by_ip inside ep's allowed_sources that are
// not ep's own, sorted: its carve-outs.
std::vector<IpAddr> carved_out_sources(const CompiledEndpoint& ep,
                                       const SharedMap<IpAddr, std::string>& workloads_by_ip);

struct CompiledIdentity {
  Labels labels;
  std::vector<std::string> workloads;  // namespace/name; empty for CIDR identities
  std::string cidr;                    // for CIDR identities
};

// The workload side (endpoints, addresses, identities) is shared with the
// compiled state before when an apply changed policies only; the maps as
// big as the workloads share their chunks when a few workloads changed.
struct Compiled {
  CowMap<std::map<std::string, CompiledEndpoint>> endpoints;  // by interface name: this node's only
  SharedMap<Prefix, uint32_t> ipcache;
  PolicyEntries policy;
  SharedMap<uint32_t, CompiledIdentity> identities;
  SharedMap<IpAddr, std::string> workloads_by_ip;  // namespace/name
  RuleInfos rules;
  // The policies that make a subject's direction default-deny, for
  // "default deny because policy X selects the destination". Shared with
  // the compiled state before when a change of policies keeps every
  // subject's modes (as is each subject's mode, below).
  using SelectedBy = std::map<uint32_t, std::array<std::vector<std::string>, 2>>;
  std::shared_ptr<const SelectedBy> selected_by = std::make_shared<const SelectedBy>();

  // For compile_policies(): each policy's part, by the policy object (alive
  // as long as the ObjectSet compiled is); each subject's modes; each
  // workload's identity, in the state's order; the CIDRs policies name.
  // (copied as a pointer: pod churn changes it only when an identity comes or goes)
  CowMap<std::unordered_map<const Policy*, std::shared_ptr<const PolicyPart>>> parts;
  using Modes = std::map<uint32_t, std::array<uint8_t, 2>>;
  std::shared_ptr<const Modes> modes = std::make_shared<const Modes>();
  std::vector<uint32_t> workload_identities;
  // by workload index: its addresses' identities besides the one above,
  // for the few that a refinement splits (identity_refinement.h)
  std::map<size_t, std::vector<uint32_t>> workload_more_identities;
  // "key=value" -> the workloads (indexes in the state's order) with that
  // label, for pod selectors' candidates; quarantined workloads left out.
  std::shared_ptr<const std::unordered_map<std::string, std::vector<size_t>>> label_index;
  std::set<Prefix> policy_cidrs;
  // The policy map keys the last compile_policies() or compile_workloads()
  // changed (empty after a whole compile): what the maps need rewriting.
  std::vector<zs_policy_key> touched;
  // compile_workloads(): the endpoints (by interface) and ipcache prefixes
  // it changed or removed, and whether an identity appeared or went.
  std::vector<std::string> touched_endpoints;
  std::vector<Prefix> touched_prefixes;
  bool identities_changed = false;
  // No workload has named ports, and no workload address is inside a
  // prefix a policy names: every identity is its label set's alone (no
  // refinement), which compile_workloads() needs.
  bool plain_identities = false;
  // Some policy has an untracked rule: a host endpoint's churn then takes
  // the whole compile (its untracked entries come from the policies).
  bool untracked_rules = false;
  // Which rules' selectors a label set can match (compile_workloads());
  // built at the first workload change after the policies changed.
  std::shared_ptr<const compiling::SelectorIndex> selector_index;
};

class PolicyCompiler {
 public:
  PolicyCompiler(IdentityAllocator& identities, RuleIdAllocator& rule_ids)
      : identities_(identities), rule_ids_(rule_ids) {}

  // Compiles the whole desired state. Throws Error naming the object when
  // the state is inconsistent (two workloads claiming one IP or one
  // interface). Identities and rule ids no longer used are released.
  Compiled compile(const ObjectSet& state);

  // Compiles state when it differs from prev_state (compiled into prev,
  // both still alive) only in policies: the parts of unchanged policies,
  // the identities and the ipcache are reused, and only the keys of
  // changed policies are merged again (listed in `touched`). Returns
  // nullopt when the change reaches further (workloads, namespaces,
  // quarantines, the CIDRs policies name, a subject's mode): then compile()
  // it whole. Gives the same result as compile().
  std::optional<Compiled> compile_policies(const ObjectSet& state, const ObjectSet& prev_state,
                                           const Compiled& prev);

  // Compiles state when it differs from prev_state (compiled into prev,
  // both still alive) only in a few workloads added, removed or replaced
  // (pod churn): their endpoints, ipcache entries and identities, and the
  // policy keys of an identity that appears or goes (listed in touched,
  // touched_endpoints, touched_prefixes). Returns nullopt when the change
  // reaches further (policies, namespaces, quarantines; named ports or
  // addresses inside a policy's prefixes, which refine identities; a
  // conflict the whole compile reports): then compile() it whole. Gives
  // the same maps as compile() (an identity's workloads may be listed in
  // another order). An identity that appears is allocated; one that goes
  // stays allocated until the caller releases what the result does not
  // hold (release_unused), once the change is committed.
  std::optional<Compiled> compile_workloads(const ObjectSet& state, const ObjectSet& prev_state,
                                            const Compiled& prev);

 private:
  IdentityAllocator& identities_;
  RuleIdAllocator& rule_ids_;
};

// The identity labels of a workload: its own labels, its namespace's name
// and the namespace's labels (prefixed), so a namespace label change moves
// the workload to another identity and selections re-converge.
Labels identity_labels(const Workload& w, const Labels& namespace_labels);

}  // namespace zeroseg
