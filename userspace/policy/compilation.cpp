// SPDX-License-Identifier: Apache-2.0
#include "policy/compilation.h"

#include <algorithm>
#include <functional>

#include "abi/port_ranges.h"
#include "common/error.h"
#include "common/time.h"

namespace zeroseg::compiling {
namespace {

// Prefixes a policy names (cidrs and their excepts): each gets an identity.
std::vector<Prefix> cidrs_of(const Policy& pol) {
  std::vector<Prefix> out;
  for (const auto* rules : {&pol.allow_in, &pol.allow_out, &pol.deny_in, &pol.deny_out})
    for (const auto& r : *rules)
      for (const auto& peer : r.peers)
        if (peer.cidr) {
          out.push_back(peer.cidr->cidr);
          for (const auto& e : peer.cidr->except) out.push_back(e);
        }
  return out;
}

// The same for every policy of a state, a kept part's from the part.
std::set<Prefix> policy_cidrs(const ObjectSet& state, const Compiled* prev = nullptr) {
  std::set<Prefix> out;
  for (const auto& pol : state.policies) {
    const PolicyPart* kept = nullptr;
    if (prev) {
      if (auto it = prev->parts.find(&pol); it != prev->parts.end()) kept = it->second.get();
    }
    if (kept) {
      out.insert(kept->cidrs.begin(), kept->cidrs.end());
    } else {
      for (const auto& p : cidrs_of(pol)) out.insert(p);
    }
  }
  return out;
}

}  // namespace

std::optional<Compiled> Compilation::run_policies(const ObjectSet& prev_state, const Compiled& prev) {
  if (!state_.workloads.same_objects(prev_state.workloads) ||
      !state_.namespaces.same_objects(prev_state.namespaces) || !state_.quarantines.empty() ||
      !prev_state.quarantines.empty() || prev.workload_identities.size() != state_.workloads.size())
    return std::nullopt;
  out_.policy_cidrs = policy_cidrs(state_, &prev);
  if (out_.policy_cidrs != prev.policy_cidrs) return std::nullopt;
  // what only workloads, namespaces and cidrs decide: as it was
  out_.endpoints = prev.endpoints;
  out_.ipcache = prev.ipcache;
  out_.identities = prev.identities;
  out_.workloads_by_ip = prev.workloads_by_ip;
  out_.workload_identities = prev.workload_identities;
  out_.workload_more_identities = prev.workload_more_identities;
  out_.plain_identities = prev.plain_identities;  // the same workloads and prefixes
  index_namespaces();
  for (size_t i = 0; i < state_.workloads.size(); i++) {
    auto more = prev.workload_more_identities.find(i);
    workloads_.push_back({&state_.workloads[i], prev.workload_identities[i],
                          more == prev.workload_more_identities.end() ? std::vector<uint32_t>{} : more->second});
  }
  out_.label_index = prev.label_index;  // the same workloads, none quarantined
  out_.untracked_rules = prev.untracked_rules;  // unless a changed policy has some: below
  // subjects: an unchanged policy's are as they were
  std::vector<size_t> changed;  // in policies_
  for (const auto& p : state_.policies) {
    auto it = prev.parts.find(&p);
    if (it == prev.parts.end()) {
      changed.push_back(policies_.size());
      compile_policy(p);
    } else {
      policies_.push_back({&p, it->second->subjects});
    }
  }
  if (touches_untracked(changed, prev)) return std::nullopt;  // the uplinks' entries: a whole compile
  if (keeps_modes(changed, prev_state, prev)) {
    out_.modes = prev.modes;
    out_.selected_by = prev.selected_by;
    modes_ = prev.modes.get();
  } else {
    compute_modes();
    if (out_mode_ != *prev.modes) return std::nullopt;  // the audit rule reads modes: all parts change
    out_.modes = std::make_shared<const Compiled::Modes>(out_mode_);
    out_.selected_by = std::make_shared<const Compiled::SelectedBy>(std::move(selected_by_));
  }

  out_.policy = prev.policy;
  out_.rules = prev.rules;
  std::set<zs_policy_key, PolicyKeyLess> touched;
  std::set<uint32_t> new_rule_ids;
  std::vector<std::pair<uint32_t, RuleInfo>> new_rules;
  for (const auto& [p, subjects] : policies_) {
    if (auto it = prev.parts.find(p); it != prev.parts.end()) {
      out_.parts.mut().emplace(p, it->second);
      continue;
    }
    auto part = compile_part(*p, subjects, new_rules);
    for (const auto& [key, vote] : part->votes) touched.insert(key);
    new_rule_ids.insert(part->rule_ids.begin(), part->rule_ids.end());
    out_.parts.mut().emplace(p, std::move(part));
  }
  // the parts of policies changed or gone: prev's parts out_ does not share
  for (const auto& [p, part] : prev.parts) {
    if (auto it = out_.parts.find(p); it != out_.parts.end() && it->second == part) continue;
    for (const auto& [key, vote] : part->votes) touched.insert(key);
    for (uint32_t id : part->rule_ids) {
      if (new_rule_ids.count(id)) continue;  // the same rule, still there
      const RuleInfo& info = prev.rules.at(id);
      rule_ids_.release(rule_key(info.policy(), info.section, info.index));
      out_.rules.erase(id);
    }
  }
  for (auto& [id, info] : new_rules) out_.rules[id] = std::move(info);

  refold(touched);
  return std::move(out_);
}

const Labels& Compilation::ns_labels(const std::string& ns) {
  auto it = ns_labels_.find(ns);
  if (it != ns_labels_.end()) return it->second;
  return ns_labels_[ns] = Labels{{kNamespaceNameLabel, ns}};
}

void Compilation::index_quarantines() {
  std::map<IpAddr, const Workload*> by_ip;
  for (const auto& w : state_.workloads)
    for (const auto& ip : w.ips) by_ip.emplace(ip, &w);
  for (const auto& q : state_.quarantines) {
    for (const auto& m : q.management) management_.insert(m);
    if (auto ip = IpAddr::parse(q.target)) {
      auto it = by_ip.find(*ip);
      if (it != by_ip.end())
        quarantined_.insert(it->second->meta.ns + "/" + it->second->meta.name);
      else
        quarantined_ips_.insert(*ip);
    } else {
      quarantined_.insert(q.target);
    }
  }
}

void Compilation::index_workloads() {
  std::map<IpAddr, const Workload*> ip_owner;
  std::map<std::string, const Workload*> if_owner;
  std::unordered_map<std::string, std::vector<size_t>> label_index;
  out_.policy_cidrs = policy_cidrs(state_);  // refinements read them
  std::vector<bool> quarantined_at;
  for (const auto& w : state_.workloads) quarantined_at.push_back(quarantined_.count(w.meta.ns + "/" + w.meta.name) > 0);
  std::vector<WorkloadIdentities> ids = allocate_identities(quarantined_at);
  out_.plain_identities = management_.empty() && plain_identities(state_.workloads, out_.policy_cidrs);
  for (const auto& w : state_.workloads) {
    size_t i = workloads_.size();
    uint32_t id = ids[i].subject;
    if (!quarantined_at[i])  // no policy selects or names a quarantined workload
      for (const auto& [k, v] : w.meta.labels) label_index[k + "=" + v].push_back(i);
    workloads_.push_back({&w, id, {}});
    for (uint32_t a : ids[i].addresses)
      if (!workloads_.back().has(a)) workloads_.back().more.push_back(a);
    if (!workloads_.back().more.empty()) out_.workload_more_identities[i] = workloads_.back().more;
    out_.workload_identities.push_back(id);
    for (size_t j = 0; j < w.ips.size(); j++) {
      const IpAddr& ip = w.ips[j];
      auto [it, fresh] = ip_owner.emplace(ip, &w);
      if (!fresh)
        throw Error(w.meta.source.str() + ": Workload " + w.meta.ns + "/" + w.meta.name + " claims " + ip.str() +
                    ", which Workload " + it->second->meta.ns + "/" + it->second->meta.name + " has");
      out_.ipcache[Prefix::host(ip)] = ids[i].addresses[j];
      out_.workloads_by_ip.emplace(ip, w.meta.ns + "/" + w.meta.name);
    }
    if (!w.interface.empty()) {
      auto [it, fresh] = if_owner.emplace(w.interface, &w);
      if (!fresh)
        throw Error(w.meta.source.str() + ": Workload " + w.meta.ns + "/" + w.meta.name + " claims interface " +
                    w.interface + ", which Workload " + it->second->meta.ns + "/" + it->second->meta.name + " has");
      out_.endpoints[w.interface] = {w.meta.ns + "/" + w.meta.name, id, w.attach, {ZS_MODE_OFF, ZS_MODE_OFF},
                                     w.ips, disjoint_prefixes(w.allowed_source_prefixes)};
    }
  }
  out_.label_index = std::make_shared<const std::unordered_map<std::string, std::vector<size_t>>>(
      std::move(label_index));
  for (auto& [ifname, ep] : out_.endpoints.mut())
    if (!ep.allowed_sources.empty()) ep.denied_sources = carved_out_sources(ep, out_.workloads_by_ip);
  for (const auto& ip : quarantined_ips_) {
    out_.ipcache[Prefix::host(ip)] = ZS_ID_QUARANTINE;
    out_.identities[ZS_ID_QUARANTINE].labels = {{"zeroseg.io/quarantine", "true"}};
  }
}

void Compilation::index_cidrs() {
  auto add = [&](const Prefix& p) {
    if (out_.ipcache.count(p)) return;  // a workload's own address
    uint32_t id = ids_.allocate({{"zeroseg.io/cidr", p.str()}});
    out_.ipcache[p] = id;
    out_.identities[id].labels = {{"zeroseg.io/cidr", p.str()}};
    out_.identities[id].cidr = p.str();
  };
  for (const auto& m : management_) add(m);
  for (const auto& p : out_.policy_cidrs) add(p);
}

std::set<uint32_t> Compilation::select_workloads(const std::string& ns, const LabelSelector& sel) {
  std::set<uint32_t> out;
  for_candidates(&sel, [&](const WorkloadInfo& wi) {
    if (wi.w->meta.ns == ns && sel.matches(wi.w->meta.labels)) out.insert(wi.identity);
  });
  return out;
}

std::set<uint32_t> Compilation::peer_identities(const Peer& peer, const std::string& policy_ns) {
  std::set<uint32_t> out;
  if (peer.entity) {
    out.insert(*peer.entity == Entity::host ? ZS_ID_HOST : *peer.entity == Entity::world ? ZS_ID_WORLD : ZS_ID_ANY);
    return out;
  }
  if (peer.cidr) {
    for (const auto& [prefix, id] : out_.ipcache) {
      if (id == ZS_ID_QUARANTINE || !peer.cidr->cidr.contains(prefix)) continue;
      bool excepted = false;
      for (const auto& e : peer.cidr->except) excepted = excepted || e.contains(prefix);
      if (!excepted) out.insert(id);
    }
    // (a /0 is in the ipcache with its own identity, so the loop above has
    // its family's unknown addresses; world would be both families')
    return out;
  }
  // many rules share a selector: match each distinct one once
  std::string key = (peer.pods ? peer.pods->str() : "*") + "|" + (peer.namespaces ? peer.namespaces->str() : "=" + policy_ns);
  auto cached = selector_cache_.find(key);
  if (cached != selector_cache_.end()) return cached->second;
  // (quarantined workloads are no candidates: no policy reaches them)
  for_candidates(peer.pods.get(), [&](const WorkloadInfo& wi) {
    const Workload& w = *wi.w;
    bool ns_ok = peer.namespaces ? peer.namespaces->matches(ns_labels(w.meta.ns)) : w.meta.ns == policy_ns;
    bool pod_ok = !peer.pods || peer.pods->matches(w.meta.labels);
    if (ns_ok && pod_ok) wi.each_identity([&](uint32_t id) { out.insert(id); });
  });
  selector_cache_[key] = out;
  return out;
}

std::vector<std::pair<uint8_t, uint16_t>> Compilation::named_port(uint32_t identity, const std::string& name, uint8_t proto) {
  std::vector<std::pair<uint8_t, uint16_t>> out;
  for (const auto& wi : workloads_) {
    if (!wi.has(identity)) continue;
    for (const auto& np : wi.w->ports)
      if (np.name == name && np.proto == proto) out.emplace_back(np.proto, np.port);
  }
  return out;
}

std::map<uint32_t, std::vector<PortBlock>> Compilation::named_port_destinations(const Rule& r) const {
  std::map<uint32_t, std::set<std::pair<uint8_t, uint16_t>>> ports;
  for (const auto& ps : r.ports) {
    if (ps.named.empty()) continue;
    for (const auto& wi : workloads_) {
      if (wi.identity == ZS_ID_QUARANTINE) continue;  // no policy reaches it
      for (const auto& np : wi.w->ports)
        if (np.name == ps.named && np.proto == ps.proto)
          wi.each_identity([&](uint32_t id) { ports[id].emplace(np.proto, np.port); });
    }
  }
  std::map<uint32_t, std::vector<PortBlock>> out;
  for (const auto& [id, numbers] : ports)
    for (auto [proto, port] : numbers) out[id].push_back({proto, port, 16});
  return out;
}

std::vector<PortBlock> Compilation::port_blocks(const Rule& r, uint32_t destination) {
  std::vector<PortBlock> out;
  if (r.any_port) return {{ZS_PROTO_ANY, 0, 0}};
  auto add_range = [&](uint8_t proto, uint16_t first, uint16_t last) {
    for (auto pp : port_range_to_prefixes(first, last)) out.push_back({proto, pp.port, pp.plen});
  };
  for (const auto& ps : r.ports) {
    if (!ps.named.empty()) {
      for (auto [proto, port] : named_port(destination, ps.named, ps.proto)) add_range(proto, port, port);
    } else if (!ps.port) {
      out.push_back({ps.proto, 0, 0});
    } else {
      add_range(ps.proto, *ps.port, ps.end_port.value_or(*ps.port));
    }
  }
  for (const auto& ic : r.icmp) {
    uint8_t proto = zs_icmp_proto(ic.family);  // IcmpSpec's family is a zs_family
    uint16_t port = zs_policy_port(proto, 0, ic.type, ic.code.value_or(0));
    out.push_back({proto, port, static_cast<uint8_t>(ic.code ? 16 : 8)});
  }
  return out;
}

void Compilation::compile_rules(const Policy& p, const std::shared_ptr<const std::string>& ref, const std::vector<Rule>& rules, const char* section, uint8_t dir, bool deny, const std::vector<uint32_t>& subjects, PolicyPart& part, NewRules& infos) {
  for (size_t i = 0; i < rules.size(); i++) {
    const Rule& r = rules[i];
    uint32_t rule_id = rule_ids_.allocate(rule_key(*ref, section, i));
    used_rules_.insert(rule_id);
    part.rule_ids.push_back(rule_id);
    infos.emplace_back(rule_id, RuleInfo{ref, section, static_cast<uint32_t>(i), p.audit});
    uint64_t expires = r.expires_ns ? realtime_to_tai_ns(*r.expires_ns) : 0;

    std::set<uint32_t> peers;
    if (r.any_peer) peers.insert(ZS_ID_ANY);
    for (const auto& peer : r.peers) peers.merge(peer_identities(peer, p.meta.ns));
    // Named ports belong to the destination: the subject on ingress, the
    // peer on egress. Egress to any peer (ZS_ID_ANY, which owns no names)
    // reaches each workload with a port of the name on its number there.
    std::map<uint32_t, std::vector<PortBlock>> named_destinations;
    if (dir == ZS_DIR_EGRESS && peers.count(ZS_ID_ANY)) named_destinations = named_port_destinations(r);

    for (uint32_t subject : subjects)
      vote_rule(p, r, {rule_id, dir, deny, expires}, subject, peers, named_destinations, part);
  }
}

void Compilation::vote_rule(const Policy& p, const Rule& r, const RuleVote& v, uint32_t subject,
                            const std::set<uint32_t>& peers,
                            const std::map<uint32_t, std::vector<PortBlock>>& named_destinations, PolicyPart& part) {
  uint8_t mode = mode_of(subject, v.dir);
  // an audit policy's allows cannot widen what enforcing policies allow
  if (!v.deny && p.audit && mode == ZS_MODE_ENFORCE) return;
  bool audit = v.deny && p.audit && mode == ZS_MODE_ENFORCE;
  auto vote = [&](uint32_t peer, const std::vector<PortBlock>& blocks) {
    for (const auto& b : blocks) {
      zs_policy_key k{};
      k.subject = subject;
      k.peer = peer;
      k.direction = v.dir;
      k.proto = b.proto;
      k.port = b.port;
      k.port_plen = b.plen;
      part.votes.emplace_back(k, PolicyVote{v.rule_id, v.deny, audit, v.expires_tai});
    }
  };
  for (uint32_t peer : peers) vote(peer, port_blocks(r, v.dir == ZS_DIR_INGRESS ? subject : peer));
  for (const auto& [destination, blocks] : named_destinations) vote(destination, blocks);
}

void Compilation::compute_modes() {
  for (const auto& [p, subjects] : policies_) {
    for (uint32_t s : subjects) {
      for (uint8_t dir : {ZS_DIR_INGRESS, ZS_DIR_EGRESS}) {
        if (!(dir == ZS_DIR_INGRESS ? p->ingress : p->egress)) continue;
        uint8_t& m = out_mode_[s][dir];
        m = std::max<uint8_t>(m, p->audit ? ZS_MODE_AUDIT : ZS_MODE_ENFORCE);
        selected_by_[s][dir].push_back(p->ref());
      }
    }
  }
}

bool Compilation::keeps_modes(const std::vector<size_t>& changed, const ObjectSet& prev_state, const Compiled& prev) const {
  if (state_.policies.size() != prev_state.policies.size()) return false;
  for (size_t i : changed) {
    const Policy* p = policies_[i].first;  // not a structured binding: the lambda captures it
    const auto& subjects = policies_[i].second;
    auto was = std::find_if(prev_state.policies.begin(), prev_state.policies.end(), [&](const Policy& q) {
      return q.kind == p->kind && q.meta.name == p->meta.name && q.meta.ns == p->meta.ns;
    });
    if (was == prev_state.policies.end() || was->audit != p->audit || was->ingress != p->ingress ||
        was->egress != p->egress)
      return false;
    auto part = prev.parts.find(&*was);
    if (part == prev.parts.end() || part->second->subjects != subjects) return false;
  }
  return true;
}

std::shared_ptr<PolicyPart> Compilation::compile_part(const Policy& p, const std::vector<uint32_t>& subjects, NewRules& infos) {
  auto part = std::make_shared<PolicyPart>();
  part->subjects = subjects;
  part->cidrs = cidrs_of(p);
  auto ref = std::make_shared<const std::string>(p.ref());
  if (p.ingress) {
    compile_rules(p, ref, p.allow_in, "ingress", ZS_DIR_INGRESS, false, subjects, *part, infos);
    compile_rules(p, ref, p.deny_in, "ingressDeny", ZS_DIR_INGRESS, true, subjects, *part, infos);
  }
  if (p.egress) {
    compile_rules(p, ref, p.allow_out, "egress", ZS_DIR_EGRESS, false, subjects, *part, infos);
    compile_rules(p, ref, p.deny_out, "egressDeny", ZS_DIR_EGRESS, true, subjects, *part, infos);
  }
  std::stable_sort(part->votes.begin(), part->votes.end(),
                   [](const auto& a, const auto& b) { return PolicyKeyLess()(a.first, b.first); });
  // kept as long as the policy is: no growth slack (1000 parts, 100k rules)
  part->votes.shrink_to_fit();
  part->rule_ids.shrink_to_fit();
  return part;
}

void Compilation::finish() {
  // modes first: whether audit allows count depends on them
  compute_modes();
  // before the quarantine's: compile_policies() compares these
  out_.modes = std::make_shared<const Compiled::Modes>(out_mode_);
  // every vote, in key order: each key's entry is folded once and the
  // chunked map is filled front to back
  std::vector<std::pair<zs_policy_key, PolicyVote>> votes;
  NewRules rules;
  for (const auto& [p, subjects] : policies_) {
    auto part = compile_part(*p, subjects, rules);
    votes.insert(votes.end(), part->votes.begin(), part->votes.end());
    out_.parts.mut().emplace(p, std::move(part));
  }
  std::sort(votes.begin(), votes.end(), [](const auto& a, const auto& b) { return PolicyKeyLess()(a.first, b.first); });
  for (size_t i = 0; i < votes.size();) {
    zs_policy_entry& e = out_.policy[votes[i].first];
    size_t j = i;
    for (; j < votes.size() && !PolicyKeyLess()(votes[i].first, votes[j].first); j++) fold_vote(e, votes[j].second);
    i = j;
  }
  std::sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, info] : rules) out_.rules[id] = std::move(info);
  compile_quarantine();
  out_.selected_by = std::make_shared<const Compiled::SelectedBy>(std::move(selected_by_));
  for (auto& [ifname, ep] : out_.endpoints.mut()) {
    ep.mode[ZS_DIR_INGRESS] = out_mode_[ep.identity][ZS_DIR_INGRESS];
    ep.mode[ZS_DIR_EGRESS] = out_mode_[ep.identity][ZS_DIR_EGRESS];
  }
  compile_untracked();
  std::set<uint32_t> live;
  for (const auto& [id, ci] : out_.identities) live.insert(id);
  ids_.release_unused(live);
  rule_ids_.release_unused(used_rules_);
}

void Compilation::compile_quarantine() {
  if (state_.quarantines.empty()) return;
  std::set<uint32_t> management;
  for (const auto& m : management_) {
    for (const auto& [prefix, id] : out_.ipcache)
      if (id != ZS_ID_QUARANTINE && m.contains(prefix)) management.insert(id);
    if (m.len == 0) management.insert(ZS_ID_WORLD);
  }
  std::set<uint32_t> others;
  for (const auto& wi : workloads_)
    if (wi.identity != ZS_ID_QUARANTINE) others.insert(wi.identity);
  auto quarantine_ref = std::make_shared<const std::string>("Quarantine");
  auto rule = [&](const char* section, bool deny, uint8_t dir) {
    uint32_t id = rule_ids_.allocate(std::string("Quarantine|") + section);
    used_rules_.insert(id);
    out_.rules[id] = {quarantine_ref, section, 0, false};
    return [this, id, deny, dir](uint32_t subject, uint32_t peer) {
      zs_policy_key k{};
      k.subject = subject;
      k.peer = peer;
      k.direction = dir;
      k.proto = ZS_PROTO_ANY;
      add_entry(k, id, deny, false, 0);
    };
  };
  for (uint8_t dir : {ZS_DIR_INGRESS, ZS_DIR_EGRESS}) {
    bool in = dir == ZS_DIR_INGRESS;
    auto allow = rule(in ? "ingress" : "egress", false, dir);
    auto deny = rule(in ? "ingressDeny" : "egressDeny", true, dir);
    // only address targets need the open rule: no id for it otherwise
    std::function<void(uint32_t, uint32_t)> open;
    if (!quarantined_ips_.empty()) open = rule(in ? "ingressOpen" : "egressOpen", false, dir);
    out_mode_[ZS_ID_QUARANTINE][dir] = ZS_MODE_ENFORCE;
    selected_by_[ZS_ID_QUARANTINE][dir] = {"Quarantine"};
    for (uint32_t m : management) allow(ZS_ID_QUARANTINE, m);
    for (uint32_t s : others) {
      if (management.count(s)) {
        allow(s, ZS_ID_QUARANTINE);
        continue;
      }
      deny(s, ZS_ID_QUARANTINE);
      uint8_t& mode = out_mode_[s][dir];
      if (mode == ZS_MODE_OFF && open) {
        mode = ZS_MODE_ENFORCE;
        open(s, ZS_ID_ANY);
      }
    }
  }
}

}  // namespace zeroseg::compiling
