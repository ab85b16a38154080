// SPDX-License-Identifier: Apache-2.0
// The compiler's insides (compiler.h is its face): one Compilation turns a
// desired state into map entries. Its members are in compilation.cpp:
// indexing (namespaces, quarantines, workloads, CIDRs), selection, rules
// and ports, modes, the built-in quarantine policy. Only the policy part
// includes this.
#pragma once

#include <zeroseg/identity.h>
#include <zeroseg/proto.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "policy/compiler.h"

namespace zeroseg::compiling {

struct WorkloadInfo {
  const Workload* w;
  uint32_t identity;            // its endpoint's: the subject of its rules
  std::vector<uint32_t> more;   // its addresses' others (identity_refinement.h)
  template <class F>
  void each_identity(F f) const {
    f(identity);
    for (uint32_t id : more) f(id);
  }
  bool has(uint32_t id) const { return id == identity || std::find(more.begin(), more.end(), id) != more.end(); }
};

// A workload's identities: its endpoint's, and each address's.
struct WorkloadIdentities {
  uint32_t subject = 0;
  std::vector<uint32_t> addresses;  // as Workload::ips
};

// A rule's traffic in one (subject, peer) pair: protocol and port blocks.
struct PortBlock {
  uint8_t proto;  // ZS_PROTO_ANY: everything
  uint16_t port;
  uint8_t plen;
};

// Whether no workload has named ports and none has an address inside one
// of prefixes: no identity is refined (workload_churn.cpp).
bool plain_identities(const SharedVector<Workload>& workloads, const std::set<Prefix>& prefixes);

// Everything a compile needs to look up.
class Compilation {
 public:
  Compilation(const ObjectSet& state, IdentityAllocator& ids, RuleIdAllocator& rule_ids)
      : state_(state), ids_(ids), rule_ids_(rule_ids) {}

  Compiled run() {
    index_namespaces();
    index_quarantines();
    index_workloads();
    index_cidrs();
    for (const auto& p : state_.policies) compile_policy(p);
    finish();
    return std::move(out_);
  }

  // compile_policies(): see compiler.h.
  std::optional<Compiled> run_policies(const ObjectSet& prev_state, const Compiled& prev);
  // compile_workloads(): see compiler.h (workload_churn.cpp).
  std::optional<Compiled> run_workloads(const ObjectSet& prev_state, const Compiled& prev);

 private:
  const Labels& ns_labels(const std::string& ns);

  void index_namespaces() {
    for (const auto& n : state_.namespaces) ns_labels_[n.meta.name] = n.meta.labels;
  }

  // Which workloads and addresses are quarantined: a target names a
  // workload, or an address (a workload's address quarantines the workload).
  void index_quarantines();

  void index_workloads();

  // Each workload's identities, allocated by label set and refinement
  // (identity_refinement.cpp); out_.identities filled.
  std::vector<WorkloadIdentities> allocate_identities(const std::vector<bool>& quarantined);

  // Every CIDR and except named by a policy gets an identity and an
  // ipcache entry, so longest-prefix lookup tells them apart.
  void index_cidrs();

  // Calls f(workload) for each workload a pod selector may match: those
  // with its first matchLabels pair (the label index), else all of them.
  // 1000 policies over 10k workloads are 10M matches without the index.
  template <class F>
  void for_candidates(const LabelSelector* sel, F f) {
    if (sel && !sel->match_labels.empty() && out_.label_index) {
      const auto& [k, v] = *sel->match_labels.begin();
      auto it = out_.label_index->find(k + "=" + v);
      if (it == out_.label_index->end()) return;
      for (size_t i : it->second) f(workloads_[i]);
      return;
    }
    for (const auto& wi : workloads_)
      if (wi.identity != ZS_ID_QUARANTINE) f(wi);
  }

  std::set<uint32_t> select_workloads(const std::string& ns, const LabelSelector& sel);

  // Identities a peer stands for; ZS_ID_ANY for "everything".
  std::set<uint32_t> peer_identities(const Peer& peer, const std::string& policy_ns);

  // Port numbers a named port has on the workloads of an identity.
  std::vector<std::pair<uint8_t, uint16_t>> named_port(uint32_t identity, const std::string& name, uint8_t proto);

  std::vector<PortBlock> port_blocks(const Rule& r, uint32_t destination);

  // Where the named ports of an egress rule to any peer lead: each identity
  // with a port of one of r's names, and those ports' numbers there.
  std::map<uint32_t, std::vector<PortBlock>> named_port_destinations(const Rule& r) const;

  void add_entry(const zs_policy_key& key, uint32_t rule_id, bool deny, bool audit, uint64_t expires_tai) {
    fold_vote(out_.policy[key], {rule_id, deny, audit, expires_tai});
  }

  // Rule ids' meanings, as compile_part() finds them: for Compiled::rules.
  using NewRules = std::vector<std::pair<uint32_t, RuleInfo>>;

  // One rule's votes for one subject: towards each of peers, and each
  // named destination on its ports there.
  struct RuleVote {
    uint32_t rule_id;
    uint8_t dir;
    bool deny;
    uint64_t expires_tai;
  };
  void vote_rule(const Policy& p, const Rule& r, const RuleVote& v, uint32_t subject, const std::set<uint32_t>& peers,
                 const std::map<uint32_t, std::vector<PortBlock>>& named_destinations, PolicyPart& part);

  // The entries of `touched` again, from every part of out_.parts that
  // votes on their subject (listed in out_.touched).
  void refold(const std::set<zs_policy_key, PolicyKeyLess>& touched);

  // run_workloads()'s steps (workload_churn.cpp).
  struct Churn;
  bool churn_workloads(Churn& c, const ObjectSet& prev_state, const Compiled& prev);
  void churn_votes(Churn& c, const Compiled& prev);

  // section: a literal (RuleInfo keeps the pointer)
  void compile_rules(const Policy& p, const std::shared_ptr<const std::string>& ref, const std::vector<Rule>& rules,
                     const char* section, uint8_t dir, bool deny, const std::vector<uint32_t>& subjects,
                     PolicyPart& part, NewRules& infos);

  void compile_policy(const Policy& p) {
    std::set<uint32_t> subjects = select_workloads(p.meta.ns, p.selector);
    policies_.push_back({&p, std::vector<uint32_t>(subjects.begin(), subjects.end())});
  }

  // Each subject's modes, and the policies behind them, from policies_.
  void compute_modes();

  uint8_t mode_of(uint32_t subject, uint8_t dir) const {
    auto it = modes_->find(subject);
    return it == modes_->end() ? static_cast<uint8_t>(ZS_MODE_OFF) : it->second[dir & 1];
  }

  // Whether the modes (and the policies behind them) stay as in prev:
  // every changed policy replaces one of the same name that selected the
  // same subjects in the same directions, with the same audit flag, and
  // none came or went. Then compute_modes() need not walk every policy.
  bool keeps_modes(const std::vector<size_t>& changed, const ObjectSet& prev_state, const Compiled& prev) const;
  // Whether a policy changed, added or gone (changed: in policies_; prev's
  // parts not in policies_) has an untracked rule (untracked_rules.cpp).
  bool touches_untracked(const std::vector<size_t>& changed, const Compiled& prev) const;

  // One policy's part; its rules' meanings are appended to infos.
  std::shared_ptr<PolicyPart> compile_part(const Policy& p, const std::vector<uint32_t>& subjects, NewRules& infos);

  void finish();
  // Each host endpoint's untracked entries, from the policies selecting
  // it (untracked_rules.cpp); out_.untracked_rules.
  void compile_untracked();

  // The built-in policy "Quarantine": the quarantine identity may reach
  // the management prefixes and be reached from them, both ways, and
  // nothing else; every other identity is denied to and from it (but those
  // inside the management prefixes, allowed). An address-only target is
  // not behind one of our endpoints: endpoints that enforce nothing in a
  // direction then enforce an allow-all there, so the deny can apply.
  void compile_quarantine();

  const ObjectSet& state_;
  IdentityAllocator& ids_;
  RuleIdAllocator& rule_ids_;
  Compiled out_;
  std::map<std::string, Labels> ns_labels_;
  std::vector<WorkloadInfo> workloads_;
  std::vector<std::pair<const Policy*, std::vector<uint32_t>>> policies_;  // subjects sorted
  Compiled::Modes out_mode_;
  const Compiled::Modes* modes_ = &out_mode_;  // what compile_rules reads
  Compiled::SelectedBy selected_by_;
  std::set<uint32_t> used_rules_;
  std::map<std::string, std::set<uint32_t>> selector_cache_;
  std::set<std::string> quarantined_;  // workloads, namespace/name
  std::set<IpAddr> quarantined_ips_;   // addresses of no workload
  std::set<Prefix> management_;
};

}  // namespace zeroseg::compiling
