// SPDX-License-Identifier: Apache-2.0
// Pod churn without a whole compile (compile_workloads, compiler.h). A few
// workloads added, removed or replaced change only: their endpoints, their
// addresses in the ipcache, the carve-outs of routers whose prefixes hold
// those addresses, and their identities' workload lists. The policy map
// changes only when an identity appears (the first workload of a label
// set) or goes (the last one): then the keys whose subject or peer it is,
// found through the selector index below, never by walking 100k rules.
// A replica of a deployment coming or going touches no policy key at all.
//
// What takes the whole compile instead (run_workloads returns nullopt):
// a change of policies, namespaces or quarantines beside the workloads;
// any workload with named ports, or an address inside a prefix a policy
// names (plain_identities false: identities then carry refinements,
// identity_refinement.h, that one workload can change for its whole label
// set); a workload labelled zeroseg.io/namespace (aliases_identity); a
// change of more than kMaxChurn workloads; two workloads claiming one
// address or interface (the whole compile names them); a host endpoint
// while some policy has an untracked rule (its entries: untracked_rules.cpp).
#include <algorithm>
#include <iterator>
#include <tuple>

#include "common/time.h"
#include "policy/compilation.h"

namespace zeroseg::compiling {

namespace {

// More than this many workloads in one change: compiled whole (a
// namespace's worth of pods applied at once compiles whole anyway faster
// than one by one here).
constexpr size_t kMaxChurn = 64;

struct Section {
  const std::vector<Rule>* rules;  // null: not compiled (the policy does not guard that direction)
  const char* name;
  uint8_t dir;
  bool deny;
};

// The sections compile_part() compiles, in its order.
std::array<Section, 4> sections_of(const Policy& p) {
  return {{{p.ingress ? &p.allow_in : nullptr, "ingress", ZS_DIR_INGRESS, false},
           {p.ingress ? &p.deny_in : nullptr, "ingressDeny", ZS_DIR_INGRESS, true},
           {p.egress ? &p.allow_out : nullptr, "egress", ZS_DIR_EGRESS, false},
           {p.egress ? &p.deny_out : nullptr, "egressDeny", ZS_DIR_EGRESS, true}}};
}

// A selector is filed under its first matchLabels pair (a workload without
// that pair cannot match it), or with those tested for every workload.
void file_under(const LabelSelector* sel, uint32_t at, std::unordered_map<std::string, std::vector<uint32_t>>& by_label,
                std::vector<uint32_t>& unindexed) {
  if (sel && !sel->match_labels.empty()) {
    const auto& [k, v] = *sel->match_labels.begin();
    by_label[k + "=" + v].push_back(at);
  } else {
    unindexed.push_back(at);
  }
}

// Calls f(i) for each entry filed where a workload with `labels` may match.
template <class F>
void each_candidate(const std::unordered_map<std::string, std::vector<uint32_t>>& by_label,
                    const std::vector<uint32_t>& unindexed, const Labels& labels, F f) {
  for (const auto& [k, v] : labels)
    if (auto it = by_label.find(k + "=" + v); it != by_label.end())
      for (uint32_t i : it->second) f(i);
  for (uint32_t i : unindexed) f(i);
}

// A label identity_labels() sets over the workload's own: such a workload
// shares its identity with workloads whose labels differ (selectors read
// its own), so its coming or going can change what matches an identity
// that neither appears nor goes, and an identity that goes can be named
// by selectors its one workload kept here does not match. Compiled whole.
bool aliases_identity(const Workload& w) { return w.meta.labels.count("zeroseg.io/namespace") > 0; }

bool contains_any(const Prefix& p, const std::vector<IpAddr>& ips) {
  return std::any_of(ips.begin(), ips.end(), [&](const IpAddr& ip) { return p.contains(Prefix::host(ip)); });
}

}  // namespace

// Which rules can name a workload as a peer, by their selector peers, and
// which policies can select it: a new identity is matched against the
// selectors filed under its labels (1000 policies share ~1000 distinct
// selectors; a label set meets a handful), not against every rule.
struct SelectorIndex {
  struct RuleRef {
    uint32_t policy;  // in state.policies
    uint8_t section;  // in sections_of()
    uint32_t rule;
    auto operator<=>(const RuleRef&) const = default;
  };
  struct Selector {
    const Peer* peer;
    const std::string* policy_ns;  // a peer without namespaceSelector means the policy's namespace
    std::vector<RuleRef> rules;
  };
  SharedVector<Policy> policies;  // the objects indexed: used only while a state has the same
  std::vector<Selector> selectors;
  std::unordered_map<std::string, std::vector<uint32_t>> by_label;  // -> selectors
  std::vector<uint32_t> unindexed;
  std::unordered_map<std::string, std::vector<uint32_t>> policies_by_label;  // -> policies, by their own selector
  std::vector<uint32_t> policies_unindexed;

  explicit SelectorIndex(const SharedVector<Policy>& ps) : policies(ps) {
    // equal selectors of one load are one object (the YAML reader shares them)
    std::map<std::tuple<const void*, const void*, std::string>, uint32_t> known;
    for (uint32_t pi = 0; pi < ps.size(); pi++) {
      const Policy& p = ps[pi];
      file_under(&p.selector, pi, policies_by_label, policies_unindexed);
      auto sections = sections_of(p);
      for (uint8_t s = 0; s < sections.size(); s++) {
        if (!sections[s].rules) continue;
        for (uint32_t ri = 0; ri < sections[s].rules->size(); ri++)
          for (const Peer& peer : (*sections[s].rules)[ri].peers) {
            if (peer.entity || peer.cidr) continue;  // addresses and entities: no workload's identity
            std::tuple key{static_cast<const void*>(peer.pods.get()), static_cast<const void*>(peer.namespaces.get()),
                           peer.namespaces ? std::string() : p.meta.ns};
            auto [it, fresh] = known.emplace(key, static_cast<uint32_t>(selectors.size()));
            if (fresh) {
              selectors.push_back({&peer, &p.meta.ns, {}});
              file_under(peer.pods.get(), it->second, by_label, unindexed);
            }
            auto& rules = selectors[it->second].rules;
            RuleRef ref{pi, s, ri};
            if (rules.empty() || rules.back() != ref) rules.push_back(ref);
          }
      }
    }
  }

  // The rules with a selector peer that matches w (its namespace's labels: nsl).
  std::set<RuleRef> rules_naming(const Workload& w, const Labels& nsl) const {
    std::set<RuleRef> out;
    each_candidate(by_label, unindexed, w.meta.labels, [&](uint32_t si) {
      const Selector& sel = selectors[si];
      const Peer& peer = *sel.peer;
      bool ns_ok = peer.namespaces ? peer.namespaces->matches(nsl) : w.meta.ns == *sel.policy_ns;
      if (ns_ok && (!peer.pods || peer.pods->matches(w.meta.labels))) out.insert(sel.rules.begin(), sel.rules.end());
    });
    return out;
  }

  // The policies that select w, in state order.
  std::vector<uint32_t> selecting(const Workload& w) const {
    std::vector<uint32_t> out;
    each_candidate(policies_by_label, policies_unindexed, w.meta.labels, [&](uint32_t pi) {
      const Policy& p = policies[pi];
      if (p.meta.ns == w.meta.ns && p.selector.matches(w.meta.labels)) out.push_back(pi);
    });
    std::sort(out.begin(), out.end());
    return out;
  }
};

bool plain_identities(const SharedVector<Workload>& workloads, const std::set<Prefix>& prefixes) {
  std::map<uint8_t, std::set<uint8_t>> lengths;  // by family
  for (const auto& p : prefixes) lengths[p.addr.family].insert(p.len);
  for (const auto& w : workloads) {
    if (!w.ports.empty()) return false;
    for (const auto& ip : w.ips)
      for (uint8_t len : lengths[ip.family])
        if (prefixes.count(Prefix::of(ip, len))) return false;
  }
  return true;
}

void Compilation::refold(const std::set<zs_policy_key, PolicyKeyLess>& touched) {
  std::unordered_map<uint32_t, std::vector<const PolicyPart*>> by_subject;
  for (const auto& key : touched) by_subject.try_emplace(key.subject);
  for (const auto& [p, part] : out_.parts)
    for (uint32_t s : part->subjects)
      if (auto it = by_subject.find(s); it != by_subject.end()) it->second.push_back(part.get());
  for (const auto& key : touched) {
    zs_policy_entry e{};
    bool any = false;
    for (const PolicyPart* part : by_subject[key.subject]) {
      auto it = std::lower_bound(part->votes.begin(), part->votes.end(), key,
                                 [](const auto& v, const zs_policy_key& k) { return PolicyKeyLess()(v.first, k); });
      for (; it != part->votes.end() && !PolicyKeyLess()(key, it->first); ++it) {
        fold_vote(e, it->second);
        any = true;
      }
    }
    if (any)
      out_.policy[key] = e;
    else
      out_.policy.erase(key);
    out_.touched.push_back(key);
  }
}

struct Compilation::Churn {
  std::vector<size_t> gone;  // in prev_state: removed or replaced
  std::vector<size_t> came;  // in state: added or replaced
  std::vector<uint32_t> ids;  // each workload's identity, in state order
  // identities that appear or go, each with one of its workloads (labels, namespace)
  std::map<uint32_t, const Workload*> appeared, vanished;
  std::set<std::string> touched_endpoints;
};

// Which workloads changed. An apply replaces in place and appends; a
// delete drops: walking both lists once finds them by pointer.
static bool align(const SharedVector<Workload>& before, const SharedVector<Workload>& after,
                  std::vector<size_t>& gone, std::vector<size_t>& came, std::vector<int64_t>& was) {
  was.assign(after.size(), -1);
  if (after.size() >= before.size()) {
    for (size_t i = 0; i < after.size(); i++) {
      if (i < before.size() && before.ptr(i) == after.ptr(i)) {
        was[i] = static_cast<int64_t>(i);
        continue;
      }
      if (i < before.size()) gone.push_back(i);
      came.push_back(i);
      if (came.size() > kMaxChurn) return false;
    }
    return true;
  }
  size_t j = 0;
  for (size_t i = 0; i < before.size(); i++) {
    if (j < after.size() && before.ptr(i) == after.ptr(j)) {
      was[j++] = static_cast<int64_t>(i);
      continue;
    }
    gone.push_back(i);
    if (gone.size() > kMaxChurn) return false;
  }
  return j == after.size();
}

bool Compilation::churn_workloads(Churn& c, const ObjectSet& prev_state, const Compiled& prev) {
  std::vector<int64_t> was;
  if (!align(prev_state.workloads, state_.workloads, c.gone, c.came, was)) return false;
  // what would refine an identity, or is an error the whole compile words
  std::set<Prefix> prefixes = prev.policy_cidrs;
  std::map<uint8_t, std::set<uint8_t>> lengths;
  for (const auto& p : prefixes) lengths[p.addr.family].insert(p.len);
  auto plain = [&](const Workload& w) {
    if (!w.ports.empty()) return false;
    for (const auto& ip : w.ips)
      for (uint8_t len : lengths[ip.family])
        if (prefixes.count(Prefix::of(ip, len))) return false;
    return true;
  };
  std::set<IpAddr> freed_ips, claimed_ips;
  std::set<std::string> freed_ifs, claimed_ifs;
  for (size_t i : c.gone) {
    const Workload& w = prev_state.workloads[i];
    if (aliases_identity(w) || (w.attach == ZS_ATTACH_HOST && prev.untracked_rules)) return false;
    freed_ips.insert(w.ips.begin(), w.ips.end());
    if (!w.interface.empty()) freed_ifs.insert(w.interface);
  }
  for (size_t i : c.came) {
    const Workload& w = state_.workloads[i];
    if (!plain(w) || aliases_identity(w) || (w.attach == ZS_ATTACH_HOST && prev.untracked_rules)) return false;
    for (const auto& ip : w.ips)
      if (!claimed_ips.insert(ip).second || (prev.workloads_by_ip.count(ip) && !freed_ips.count(ip))) return false;
    if (!w.interface.empty() &&
        (!claimed_ifs.insert(w.interface).second || (prev.endpoints.count(w.interface) && !freed_ifs.count(w.interface))))
      return false;
  }

  out_.endpoints = prev.endpoints;
  out_.ipcache = prev.ipcache;
  out_.identities = prev.identities;
  out_.workloads_by_ip = prev.workloads_by_ip;
  out_.policy_cidrs = prev.policy_cidrs;
  out_.plain_identities = true;
  c.ids.resize(state_.workloads.size());
  for (size_t i = 0; i < was.size(); i++)
    if (was[i] >= 0) c.ids[i] = prev.workload_identities[was[i]];

  // out first, then in: a replaced workload frees what it keeps
  for (size_t i : c.gone) {
    const Workload& w = prev_state.workloads[i];
    uint32_t id = prev.workload_identities[i];
    std::string name = w.meta.ns + "/" + w.meta.name;
    for (const auto& ip : w.ips) {
      out_.ipcache.erase(Prefix::host(ip));
      out_.workloads_by_ip.erase(ip);
      out_.touched_prefixes.push_back(Prefix::host(ip));
    }
    if (!w.interface.empty()) {
      out_.endpoints.mut().erase(w.interface);
      c.touched_endpoints.insert(w.interface);
    }
    auto& names = out_.identities[id].workloads;
    names.erase(std::remove(names.begin(), names.end(), name), names.end());
    if (names.empty()) {
      out_.identities.erase(id);
      c.vanished.emplace(id, &w);
    }
  }
  for (size_t i : c.came) {
    const Workload& w = state_.workloads[i];
    Labels labels = identity_labels(w, ns_labels(w.meta.ns));
    uint32_t id = ids_.allocate(labels);
    c.ids[i] = id;
    std::string name = w.meta.ns + "/" + w.meta.name;
    if (!out_.identities.count(id)) {
      if (!c.vanished.erase(id)) c.appeared.emplace(id, &w);  // (back in one change: as it was)
    }
    auto& ci = out_.identities[id];
    ci.labels = std::move(labels);
    ci.workloads.push_back(name);
    for (const auto& ip : w.ips) {
      out_.ipcache[Prefix::host(ip)] = id;
      out_.workloads_by_ip.emplace(ip, name);
      out_.touched_prefixes.push_back(Prefix::host(ip));
    }
    if (!w.interface.empty()) {
      // modes once the votes are in (churn_votes)
      out_.endpoints.mut()[w.interface] = {name, id, w.attach, {ZS_MODE_OFF, ZS_MODE_OFF}, w.ips,
                                           disjoint_prefixes(w.allowed_source_prefixes)};
      c.touched_endpoints.insert(w.interface);
    }
  }
  // routers' carve-outs (carved_out_sources) of the addresses that came or went
  std::vector<IpAddr> moved(freed_ips.begin(), freed_ips.end());
  moved.insert(moved.end(), claimed_ips.begin(), claimed_ips.end());
  std::vector<std::string> recarve;
  for (const auto& [ifname, ep] : out_.endpoints)
    if (!ep.allowed_sources.empty() &&
        (c.touched_endpoints.count(ifname) ||
         std::any_of(ep.allowed_sources.begin(), ep.allowed_sources.end(),
                     [&](const Prefix& p) { return contains_any(p, moved); })))
      recarve.push_back(ifname);
  for (const auto& ifname : recarve) {
    auto& ep = out_.endpoints.mut()[ifname];
    ep.denied_sources = carved_out_sources(ep, out_.workloads_by_ip);
    c.touched_endpoints.insert(ifname);
  }

  // the label index, in the new state's order
  auto index = std::make_shared<std::unordered_map<std::string, std::vector<size_t>>>(*prev.label_index);
  if (state_.workloads.size() < prev_state.workloads.size()) {  // a delete: the indexes after a gap move down
    for (auto& [label, at] : *index) {
      std::vector<size_t> kept;
      for (size_t i : at) {
        auto below = std::lower_bound(c.gone.begin(), c.gone.end(), i);
        if (below == c.gone.end() || *below != i) kept.push_back(i - static_cast<size_t>(below - c.gone.begin()));
      }
      at = std::move(kept);
    }
  } else {
    for (size_t i : c.gone)
      for (const auto& [k, v] : prev_state.workloads[i].meta.labels) {
        auto& at = (*index)[k + "=" + v];
        at.erase(std::remove(at.begin(), at.end(), i), at.end());
      }
  }
  if (state_.workloads.size() >= prev_state.workloads.size())
    for (size_t i : c.came)
      for (const auto& [k, v] : state_.workloads[i].meta.labels) {
        auto& at = (*index)[k + "=" + v];
        at.insert(std::lower_bound(at.begin(), at.end(), i), i);
      }
  std::erase_if(*index, [](const auto& kv) { return kv.second.empty(); });
  out_.label_index = std::move(index);
  out_.workload_identities = c.ids;
  for (size_t i = 0; i < state_.workloads.size(); i++) workloads_.push_back({&state_.workloads[i], c.ids[i], {}});
  return true;
}

void Compilation::churn_votes(Churn& c, const Compiled& prev) {
  out_.policy = prev.policy;
  out_.rules = prev.rules;
  out_.parts = prev.parts;
  out_.modes = prev.modes;
  out_.selected_by = prev.selected_by;
  out_.selector_index = prev.selector_index;
  out_.identities_changed = !c.appeared.empty() || !c.vanished.empty();
  if (out_.identities_changed) {
    if (!out_.selector_index || !out_.selector_index->policies.same_objects(state_.policies))
      out_.selector_index = std::make_shared<const SelectorIndex>(state_.policies);
    const SelectorIndex& ix = *out_.selector_index;
    std::set<zs_policy_key, PolicyKeyLess> touched;
    std::map<const Policy*, std::shared_ptr<PolicyPart>> edited;  // parts copied to change
    auto edit = [&](const Policy* p) -> PolicyPart& {
      auto& part = edited[p];
      if (!part) part = std::make_shared<PolicyPart>(*out_.parts.at(p));
      return *part;
    };
    out_mode_ = *prev.modes;
    selected_by_ = *prev.selected_by;
    modes_ = &out_mode_;

    // an identity gone: every vote with it as subject or peer
    std::set<const Policy*> naming_gone;
    for (const auto& [id, w] : c.vanished) {
      const Labels& nsl = ns_labels(w->meta.ns);
      for (uint32_t pi : ix.selecting(*w)) naming_gone.insert(&state_.policies[pi]);
      for (const auto& ref : ix.rules_naming(*w, nsl)) naming_gone.insert(&state_.policies[ref.policy]);
      out_mode_.erase(id);
      selected_by_.erase(id);
    }
    for (const Policy* p : naming_gone) {
      PolicyPart& part = edit(p);
      std::erase_if(part.votes, [&](const auto& v) {
        bool out = c.vanished.count(v.first.subject) || c.vanished.count(v.first.peer);
        if (out) touched.insert(v.first);
        return out;
      });
      std::erase_if(part.subjects, [&](uint32_t s) { return c.vanished.count(s) > 0; });
    }

    // an identity new: the policies that select it (its modes first: the
    // audit rule reads them), then the rules that name it
    std::map<uint32_t, std::vector<uint32_t>> selecting;
    for (const auto& [id, w] : c.appeared) {
      selecting[id] = ix.selecting(*w);
      for (uint32_t pi : selecting[id]) {
        const Policy& p = state_.policies[pi];
        for (uint8_t dir : {ZS_DIR_INGRESS, ZS_DIR_EGRESS}) {
          if (!(dir == ZS_DIR_INGRESS ? p.ingress : p.egress)) continue;
          uint8_t& m = out_mode_[id][dir];
          m = std::max<uint8_t>(m, p.audit ? ZS_MODE_AUDIT : ZS_MODE_ENFORCE);
          selected_by_[id][dir].push_back(p.ref());
        }
      }
    }
    for (const auto& [id, w] : c.appeared)
      for (uint32_t pi : selecting[id]) {
        const Policy& p = state_.policies[pi];
        PolicyPart& part = edit(&p);
        part.subjects.insert(std::lower_bound(part.subjects.begin(), part.subjects.end(), id), id);
        PolicyPart mine;
        NewRules known;  // their ids and meanings are in out_.rules already
        auto ref = std::make_shared<const std::string>(p.ref());
        for (const auto& s : sections_of(p))
          if (s.rules) compile_rules(p, ref, *s.rules, s.name, s.dir, s.deny, {id}, mine, known);
        for (const auto& v : mine.votes) touched.insert(v.first);
        part.votes.insert(part.votes.end(), mine.votes.begin(), mine.votes.end());
      }
    for (const auto& [id, w] : c.appeared) {
      std::set<uint32_t> peer{id};
      for (const auto& r : ix.rules_naming(*w, ns_labels(w->meta.ns))) {
        const Policy& p = state_.policies[r.policy];
        const Section s = sections_of(p)[r.section];
        const Rule& rule = (*s.rules)[r.rule];
        uint32_t rule_id = rule_ids_.allocate(rule_key(p.ref(), s.name, r.rule));
        uint64_t expires = rule.expires_ns ? realtime_to_tai_ns(*rule.expires_ns) : 0;
        PolicyPart& part = edit(&p);
        size_t from = part.votes.size();
        for (uint32_t subject : part.subjects)
          if (!c.appeared.count(subject))  // a new subject's votes are all in: its peers had it
            vote_rule(p, rule, {rule_id, s.dir, s.deny, expires}, subject, peer, {}, part);
        for (size_t v = from; v < part.votes.size(); v++) touched.insert(part.votes[v].first);
      }
    }
    for (auto& [p, part] : edited) {
      std::stable_sort(part->votes.begin(), part->votes.end(),
                       [](const auto& a, const auto& b) { return PolicyKeyLess()(a.first, b.first); });
      out_.parts[p] = std::move(part);
    }
    out_.modes = std::make_shared<const Compiled::Modes>(out_mode_);
    out_.selected_by = std::make_shared<const Compiled::SelectedBy>(std::move(selected_by_));
    refold(touched);
  }
  for (const auto& ifname : c.touched_endpoints) {
    auto it = out_.endpoints.find(ifname);
    if (it == out_.endpoints.end()) continue;
    auto& ep = out_.endpoints.mut()[ifname];
    ep.mode[ZS_DIR_INGRESS] = mode_of(ep.identity, ZS_DIR_INGRESS);
    ep.mode[ZS_DIR_EGRESS] = mode_of(ep.identity, ZS_DIR_EGRESS);
  }
  out_.touched_endpoints.assign(c.touched_endpoints.begin(), c.touched_endpoints.end());
}

std::optional<Compiled> Compilation::run_workloads(const ObjectSet& prev_state, const Compiled& prev) {
  if (!state_.policies.same_objects(prev_state.policies) || !state_.namespaces.same_objects(prev_state.namespaces) ||
      !state_.quarantines.empty() || !prev_state.quarantines.empty() || !prev.plain_identities ||
      !prev.label_index || prev.workload_identities.size() != prev_state.workloads.size() ||
      prev.parts.size() != state_.policies.size())
    return std::nullopt;
  index_namespaces();
  Churn c;
  if (!churn_workloads(c, prev_state, prev)) return std::nullopt;
  modes_ = prev.modes.get();
  out_.untracked_rules = prev.untracked_rules;  // the same policies
  churn_votes(c, prev);
  return std::move(out_);
}

}  // namespace zeroseg::compiling
