// SPDX-License-Identifier: Apache-2.0
#include "policy/compiler.h"

#include <zeroseg/identity.h>

#include <functional>
#include <unordered_map>

#include "common/error.h"
#include "common/time.h"
#include "datapath/port_ranges.h"

namespace zeroseg {

Labels identity_labels(const Workload& w, const Labels& namespace_labels) {
  Labels l = w.meta.labels;
  l["zeroseg.io/namespace"] = w.meta.ns;
  for (const auto& [k, v] : namespace_labels) l["ns:" + k] = v;
  return l;
}

namespace {

constexpr uint8_t kIcmp = 1, kIcmp6 = 58;

struct WorkloadInfo {
  const Workload* w;
  uint32_t identity;
};

// A rule's traffic in one (subject, peer) pair: protocol and port blocks.
struct PortBlock {
  uint8_t proto;  // ZS_PROTO_ANY: everything
  uint16_t port;
  uint8_t plen;
};

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

 private:
  const Labels& ns_labels(const std::string& ns) {
    auto it = ns_labels_.find(ns);
    if (it != ns_labels_.end()) return it->second;
    return ns_labels_[ns] = Labels{{kNamespaceNameLabel, ns}};
  }

  void index_namespaces() {
    for (const auto& n : state_.namespaces) ns_labels_[n.meta.name] = n.meta.labels;
  }

  // Which workloads and addresses are quarantined: a target names a
  // workload, or an address (a workload's address quarantines the workload).
  void index_quarantines() {
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

  void index_workloads() {
    std::map<IpAddr, const Workload*> ip_owner;
    std::map<std::string, const Workload*> if_owner;
    for (const auto& w : state_.workloads) {
      bool quarantined = quarantined_.count(w.meta.ns + "/" + w.meta.name) > 0;
      uint32_t id = quarantined ? uint32_t{ZS_ID_QUARANTINE} : ids_.allocate(identity_labels(w, ns_labels(w.meta.ns)));
      if (!quarantined)  // no policy selects or names a quarantined workload
        for (const auto& [k, v] : w.meta.labels) by_label_[k + "=" + v].push_back(workloads_.size());
      workloads_.push_back({&w, id});
      auto& ci = out_.identities[id];
      ci.labels = quarantined ? Labels{{"zeroseg.io/quarantine", "true"}} : identity_labels(w, ns_labels(w.meta.ns));
      ci.workloads.push_back(w.meta.ns + "/" + w.meta.name);
      for (const auto& ip : w.ips) {
        auto [it, fresh] = ip_owner.emplace(ip, &w);
        if (!fresh)
          throw Error(w.meta.source.str() + ": Workload " + w.meta.ns + "/" + w.meta.name + " claims " + ip.str() +
                      ", which Workload " + it->second->meta.ns + "/" + it->second->meta.name + " has");
        out_.ipcache[Prefix::host(ip)] = id;
        out_.workloads_by_ip.emplace(ip, w.meta.ns + "/" + w.meta.name);
      }
      if (!w.interface.empty()) {
        auto [it, fresh] = if_owner.emplace(w.interface, &w);
        if (!fresh)
          throw Error(w.meta.source.str() + ": Workload " + w.meta.ns + "/" + w.meta.name + " claims interface " +
                      w.interface + ", which Workload " + it->second->meta.ns + "/" + it->second->meta.name + " has");
        out_.endpoints[w.interface] = {w.meta.ns + "/" + w.meta.name, id, w.attach, {ZS_MODE_OFF, ZS_MODE_OFF}};
      }
    }
    for (const auto& ip : quarantined_ips_) {
      out_.ipcache[Prefix::host(ip)] = ZS_ID_QUARANTINE;
      out_.identities[ZS_ID_QUARANTINE].labels = {{"zeroseg.io/quarantine", "true"}};
    }
  }

  // Every CIDR and except named by a policy gets an identity and an
  // ipcache entry, so longest-prefix lookup tells them apart.
  void index_cidrs() {
    auto add = [&](const Prefix& p) {
      if (out_.ipcache.count(p)) return;  // a workload's own address
      uint32_t id = ids_.allocate({{"zeroseg.io/cidr", p.str()}});
      out_.ipcache[p] = id;
      out_.identities[id].labels = {{"zeroseg.io/cidr", p.str()}};
      out_.identities[id].cidr = p.str();
    };
    for (const auto& m : management_) add(m);
    for (const auto& pol : state_.policies)
      for (const auto* rules : {&pol.allow_in, &pol.allow_out, &pol.deny_in, &pol.deny_out})
        for (const auto& r : *rules)
          for (const auto& peer : r.peers)
            if (peer.cidr) {
              add(peer.cidr->cidr);
              for (const auto& e : peer.cidr->except) add(e);
            }
  }

  // Calls f(workload) for each workload a pod selector may match: those
  // with its first matchLabels pair (the label index), else all of them.
  // 1000 policies over 10k workloads are 10M matches without the index.
  template <class F>
  void for_candidates(const LabelSelector* sel, F f) {
    if (sel && !sel->match_labels.empty()) {
      const auto& [k, v] = *sel->match_labels.begin();
      auto it = by_label_.find(k + "=" + v);
      if (it == by_label_.end()) return;
      for (size_t i : it->second) f(workloads_[i]);
      return;
    }
    for (const auto& wi : workloads_)
      if (wi.identity != ZS_ID_QUARANTINE) f(wi);
  }

  std::set<uint32_t> select_workloads(const std::string& ns, const LabelSelector& sel) {
    std::set<uint32_t> out;
    for_candidates(&sel, [&](const WorkloadInfo& wi) {
      if (wi.w->meta.ns == ns && sel.matches(wi.w->meta.labels)) out.insert(wi.identity);
    });
    return out;
  }

  // Identities a peer stands for; ZS_ID_ANY for "everything".
  std::set<uint32_t> peer_identities(const Peer& peer, const std::string& policy_ns) {
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
      if (peer.cidr->cidr.len == 0) out.insert(ZS_ID_WORLD);  // addresses in no prefix
      return out;
    }
    // many rules share a selector: match each distinct one once
    std::string key = (peer.pods ? peer.pods->str() : "*") + "|" + (peer.namespaces ? peer.namespaces->str() : "=" + policy_ns);
    auto cached = selector_cache_.find(key);
    if (cached != selector_cache_.end()) return cached->second;
    // (quarantined workloads are no candidates: no policy reaches them)
    for_candidates(peer.pods ? &*peer.pods : nullptr, [&](const WorkloadInfo& wi) {
      const Workload& w = *wi.w;
      bool ns_ok = peer.namespaces ? peer.namespaces->matches(ns_labels(w.meta.ns)) : w.meta.ns == policy_ns;
      bool pod_ok = !peer.pods || peer.pods->matches(w.meta.labels);
      if (ns_ok && pod_ok) out.insert(wi.identity);
    });
    selector_cache_[key] = out;
    return out;
  }

  // Port numbers a named port has on the workloads of an identity.
  std::vector<std::pair<uint8_t, uint16_t>> named_port(uint32_t identity, const std::string& name, uint8_t proto) {
    std::vector<std::pair<uint8_t, uint16_t>> out;
    for (const auto& wi : workloads_) {
      if (wi.identity != identity) continue;
      for (const auto& np : wi.w->ports)
        if (np.name == name && np.proto == proto) out.emplace_back(np.proto, np.port);
    }
    return out;
  }

  std::vector<PortBlock> port_blocks(const Rule& r, uint32_t destination) {
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
      uint16_t port = static_cast<uint16_t>(ic.type << 8 | ic.code.value_or(0));
      out.push_back({ic.family == 6 ? kIcmp6 : kIcmp, port, static_cast<uint8_t>(ic.code ? 16 : 8)});
    }
    return out;
  }

  void add_entry(const zs_policy_key& key, uint32_t rule_id, bool deny, bool audit, uint64_t expires_tai) {
    zs_policy_entry& e = out_.policy[key];
    auto longer = [](uint64_t a, uint64_t b) { return a == 0 || (b != 0 && a > b); };  // a outlives b
    if (deny) {
      // an enforced deny beats an audit one; then the longest-lived wins
      bool take = !e.deny_rule || (e.deny_audit && !audit) ||
                  (e.deny_audit == audit && longer(expires_tai, e.deny_expires));
      if (take) {
        e.deny_rule = rule_id;
        e.deny_expires = expires_tai;
        e.deny_audit = audit;
      }
    } else if (!e.allow_rule || longer(expires_tai, e.allow_expires)) {
      e.allow_rule = rule_id;
      e.allow_expires = expires_tai;
    }
  }

  void compile_rules(const Policy& p, const std::vector<Rule>& rules, const char* section, uint8_t dir, bool deny,
                     const std::set<uint32_t>& subjects) {
    for (size_t i = 0; i < rules.size(); i++) {
      const Rule& r = rules[i];
      std::string key = p.ref() + "|" + section + "|" + std::to_string(i);
      uint32_t rule_id = rule_ids_.allocate(key);
      used_rules_.insert(rule_id);
      out_.rules[rule_id] = {p.ref(), section, i, p.audit, r.source};
      uint64_t expires = r.expires_ns ? realtime_to_tai_ns(*r.expires_ns) : 0;

      std::set<uint32_t> peers;
      if (r.any_peer) peers.insert(ZS_ID_ANY);
      for (const auto& peer : r.peers) peers.merge(peer_identities(peer, p.meta.ns));

      for (uint32_t subject : subjects) {
        uint8_t mode = out_mode_[subject][dir];
        // an audit policy's allows cannot widen what enforcing policies allow
        if (!deny && p.audit && mode == ZS_MODE_ENFORCE) continue;
        bool audit = deny && p.audit && mode == ZS_MODE_ENFORCE;
        for (uint32_t peer : peers) {
          // named ports belong to the destination: the subject on ingress
          uint32_t destination = dir == ZS_DIR_INGRESS ? subject : peer;
          for (const auto& b : port_blocks(r, destination)) {
            zs_policy_key k{};
            k.subject = subject;
            k.peer = peer;
            k.direction = dir;
            k.proto = b.proto;
            k.port = b.port;
            k.port_plen = b.plen;
            add_entry(k, rule_id, deny, audit, expires);
          }
        }
      }
    }
  }

  void compile_policy(const Policy& p) {
    std::set<uint32_t> subjects = select_workloads(p.meta.ns, p.selector);
    policies_.push_back({&p, subjects});
  }

  void finish() {
    // modes first: whether audit allows count depends on them
    for (const auto& [p, subjects] : policies_) {
      for (uint32_t s : subjects) {
        for (uint8_t dir : {ZS_DIR_INGRESS, ZS_DIR_EGRESS}) {
          if (!(dir == ZS_DIR_INGRESS ? p->ingress : p->egress)) continue;
          uint8_t& m = out_mode_[s][dir];
          m = std::max<uint8_t>(m, p->audit ? ZS_MODE_AUDIT : ZS_MODE_ENFORCE);
          out_.selected_by[s][dir].push_back(p->ref());
        }
      }
    }
    for (const auto& [p, subjects] : policies_) {
      if (p->ingress) {
        compile_rules(*p, p->allow_in, "ingress", ZS_DIR_INGRESS, false, subjects);
        compile_rules(*p, p->deny_in, "ingressDeny", ZS_DIR_INGRESS, true, subjects);
      }
      if (p->egress) {
        compile_rules(*p, p->allow_out, "egress", ZS_DIR_EGRESS, false, subjects);
        compile_rules(*p, p->deny_out, "egressDeny", ZS_DIR_EGRESS, true, subjects);
      }
    }
    compile_quarantine();
    for (auto& [ifname, ep] : out_.endpoints) {
      ep.mode[ZS_DIR_INGRESS] = out_mode_[ep.identity][ZS_DIR_INGRESS];
      ep.mode[ZS_DIR_EGRESS] = out_mode_[ep.identity][ZS_DIR_EGRESS];
    }
    std::set<uint32_t> live;
    for (const auto& [id, ci] : out_.identities) live.insert(id);
    ids_.release_unused(live);
    rule_ids_.release_unused(used_rules_);
  }

  // The built-in policy "Quarantine": the quarantine identity may reach
  // the management prefixes and be reached from them, both ways, and
  // nothing else; every other identity is denied to and from it (but those
  // inside the management prefixes, allowed). An address-only target is
  // not behind one of our endpoints: endpoints that enforce nothing in a
  // direction then enforce an allow-all there, so the deny can apply.
  void compile_quarantine() {
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
    auto rule = [&](const char* section, bool deny, uint8_t dir) {
      uint32_t id = rule_ids_.allocate(std::string("Quarantine|") + section);
      used_rules_.insert(id);
      out_.rules[id] = {"Quarantine", section, 0, false, {}};
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
      out_.selected_by[ZS_ID_QUARANTINE][dir] = {"Quarantine"};
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

  const ObjectSet& state_;
  IdentityAllocator& ids_;
  RuleIdAllocator& rule_ids_;
  Compiled out_;
  std::map<std::string, Labels> ns_labels_;
  std::vector<WorkloadInfo> workloads_;
  std::vector<std::pair<const Policy*, std::set<uint32_t>>> policies_;
  std::map<uint32_t, std::array<uint8_t, 2>> out_mode_;
  std::set<uint32_t> used_rules_;
  std::map<std::string, std::set<uint32_t>> selector_cache_;
  std::unordered_map<std::string, std::vector<size_t>> by_label_;  // "key=value" -> indexes into workloads_
  std::set<std::string> quarantined_;  // workloads, namespace/name
  std::set<IpAddr> quarantined_ips_;   // addresses of no workload
  std::set<Prefix> management_;
};

}  // namespace

Compiled PolicyCompiler::compile(const ObjectSet& state) { return Compilation(state, identities_, rule_ids_).run(); }

}  // namespace zeroseg
