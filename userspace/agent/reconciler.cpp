// SPDX-License-Identifier: Apache-2.0
#include "agent/reconciler.h"

#include <net/if.h>

#include <cstring>

#include "common/error.h"
#include "common/log.h"
#include "loader/attach.h"
#include "loader/slot_access.h"
#include "loader/transaction.h"

namespace zeroseg {
namespace {

// Diffs want against have, staging only the differences.
template <class Map, class Stage, class Remove>
size_t diff(const Map& want, const Map& have, Stage stage, Remove remove) {
  size_t n = 0;
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || std::memcmp(&it->second, &v, sizeof(v)) != 0) {
      stage(k, v);
      n++;
    }
  }
  for (const auto& [k, v] : have)
    if (!want.count(k)) {
      remove(k);
      n++;
    }
  return n;
}

}  // namespace

Reconciler::Mirror Reconciler::Mirror::read(const Datapath& dp) {
  Mirror m;
  int slot = dp.active_slot();
  for (auto& [k, v] : dp.endpoints().entries())
    if (!slot_empty(slot_ref(v, slot))) m.endpoints[k] = slot_ref(v, slot);
  for (auto& [k, v] : dp.ipcache().entries()) {
    if (slot_ref(v, slot)) m.ipcache[Transaction::prefix_of(k)] = slot_ref(v, slot);
  }
  for (auto& [k, v] : dp.policy().entries())
    if (!slot_empty(slot_ref(v, slot))) m.policy[k] = slot_ref(v, slot);
  for (auto& [k, v] : dp.sources().entries())
    if (slot_ref(v, slot)) m.sources[k] = slot_ref(v, slot);
  for (auto& [k, v] : dp.source_prefixes().entries())
    if (slot_ref(v, slot)) m.source_prefixes[k] = slot_ref(v, slot);
  for (auto& [k, v] : dp.untracked(slot).entries()) m.untracked[k] = v;
  return m;
}

Reconciler::Reconciler(Datapath& dp) : dp_(dp), mirror_(Mirror::read(dp)), attachments_(dp) {}

size_t Reconciler::stage_policy(Transaction& tx, const Compiled& want) const {
  size_t n = 0;
  for (const auto& key : want.touched) {
    auto w = want.policy.find(key);
    auto h = mirror_.policy.find(key);
    if (w == want.policy.end()) {
      if (h != mirror_.policy.end()) {
        tx.remove_rule(key);
        n++;
      }
    } else if (h == mirror_.policy.end() || std::memcmp(&h->second, &w->second, sizeof(w->second)) != 0) {
      tx.set_rule(key, w->second);
      n++;
    }
  }
  return n;
}

void Reconciler::mirror_policy(const Compiled& want) {
  for (const auto& key : want.touched) {
    if (auto w = want.policy.find(key); w != want.policy.end())
      mirror_.policy[key] = w->second;
    else
      mirror_.policy.erase(key);
  }
}

size_t Reconciler::reconcile_policy(const Compiled& want) {
  Transaction tx(dp_);
  size_t n = stage_policy(tx, want);
  tx.commit();
  mirror_policy(want);
  return n;
}

size_t Reconciler::count_changes(const Compiled& want, const Compiled& current) const {
  auto none = [](auto&&...) {};
  size_t n = diff(want.ipcache, mirror_.ipcache, none, none);
  n += diff(want.policy, mirror_.policy, none, none);
  for (const auto& [ifname, ep] : want.endpoints) {
    auto cur = current.endpoints.find(ifname);
    if (cur == current.endpoints.end() || cur->second.identity != ep.identity || cur->second.mode != ep.mode ||
        cur->second.ips != ep.ips || cur->second.allowed_sources != ep.allowed_sources ||
        cur->second.denied_sources != ep.denied_sources || cur->second.untracked != ep.untracked)
      n++;
  }
  for (const auto& [ifname, ep] : current.endpoints) n += !want.endpoints.count(ifname);
  return n;
}

// The source validation entries (include/zeroseg/source.h) of endpoints
// by ifindex: each workload's own addresses and allowed prefixes on its
// interface, with the other workloads' addresses inside them carved out
// (a denied host prefix each), and every local workload's addresses on
// every uplink.
void Reconciler::want_sources(const std::map<uint32_t, const CompiledEndpoint*>& by_ifindex, Sources& sources,
                              SourcePrefixes& prefixes) {
  std::vector<uint32_t> uplinks;
  std::vector<IpAddr> local;
  for (const auto& [ifindex, ep] : by_ifindex) {
    if (ep->kind == ZS_ATTACH_HOST) {
      uplinks.push_back(ifindex);
      continue;
    }
    for (const auto& ip : ep->ips) {
      sources[Transaction::source_key(ifindex, ip)] = ZS_SOURCE_OWN;
      local.push_back(ip);
    }
    for (const auto& p : ep->allowed_sources)
      prefixes[Transaction::source_prefix_key(ifindex, p)] = ZS_SOURCE_PREFIX_ALLOWED;
    // after the allowed ones: a carve-out beats an allowed host prefix
    for (const auto& ip : ep->denied_sources)
      prefixes[Transaction::source_prefix_key(ifindex, Prefix::host(ip))] = ZS_SOURCE_PREFIX_DENIED;
  }
  for (uint32_t uplink : uplinks)
    for (const auto& ip : local) sources[Transaction::source_key(uplink, ip)] = ZS_SOURCE_LOCAL;
}

Reconciler::Untracked Reconciler::want_untracked(const std::map<uint32_t, const CompiledEndpoint*>& by_ifindex) {
  Untracked out;
  for (const auto& [ifindex, ep] : by_ifindex)
    for (const auto& e : ep->untracked) {
      zs_untracked_value v{};
      zs_untracked_key k = untracked_key(ifindex, e.prefix);
      v.rule_id = e.rule_id;
      v.action = e.action;
      v.prefixlen = static_cast<uint8_t>(k.prefixlen);
      out[k] = v;
    }
  return out;
}

// Carve-outs grow as workloads times routers (a router with 0.0.0.0/0 has
// one per workload of the cluster): past the map, an error that says so,
// before anything is changed.
void Reconciler::check_source_prefix_room(const std::map<uint32_t, const CompiledEndpoint*>& by_ifindex,
                                          size_t wanted) const {
  uint32_t room = dp_.source_prefixes().ref().max_entries();
  if (wanted <= room) return;
  size_t carved = 0;
  const CompiledEndpoint* widest = nullptr;
  for (const auto& [ifindex, ep] : by_ifindex) {
    carved += ep->denied_sources.size();
    if (!widest || ep->denied_sources.size() > widest->denied_sources.size()) widest = ep;
  }
  throw Error("allowedSourcePrefixes need " + std::to_string(wanted) + " source prefix entries (" +
              std::to_string(carved) + " of them other workloads' addresses carved out, most for " +
              (widest ? widest->workload : std::string("none")) +
              "), zs_source_prefixes holds " + std::to_string(room) + ": nothing was changed");
}

size_t Reconciler::reconcile(const Compiled& want) {
  std::map<uint32_t, zs_endpoint> want_eps;
  std::map<uint32_t, const CompiledEndpoint*> by_ifindex;
  std::map<uint32_t, std::pair<std::string, zs_attach_kind>> attach_to;
  for (const auto& [ifname, ep] : want.endpoints) {
    unsigned ifindex = if_nametoindex(ifname.c_str());
    if (!ifindex) continue;  // attached when the link appears (sync_links)
    zs_endpoint e{};
    e.identity = ep.identity;
    e.kind = static_cast<uint8_t>(ep.kind);
    e.mode[ZS_DIR_INGRESS] = ep.mode[ZS_DIR_INGRESS];
    e.mode[ZS_DIR_EGRESS] = ep.mode[ZS_DIR_EGRESS];
    want_eps[ifindex] = e;
    by_ifindex[ifindex] = &ep;
    attach_to[ifindex] = {ifname, ep.kind};
  }
  Sources want_src;
  SourcePrefixes want_pfx;
  want_sources(by_ifindex, want_src, want_pfx);
  check_source_prefix_room(by_ifindex, want_pfx.size());
  Untracked want_untr = want_untracked(by_ifindex);
  Transaction tx(dp_);
  size_t n = diff(want_eps, mirror_.endpoints, [&](uint32_t k, const zs_endpoint& v) { tx.set_endpoint(k, v); },
                  [&](uint32_t k) { tx.remove_endpoint(k); });
  n += diff(want.ipcache, mirror_.ipcache, [&](const Prefix& k, uint32_t v) { tx.set_identity(k, v); },
            [&](const Prefix& k) { tx.remove_identity(k); });
  n += diff(want.policy, mirror_.policy,
            [&](const zs_policy_key& k, const zs_policy_entry& v) { tx.set_rule(k, v); },
            [&](const zs_policy_key& k) { tx.remove_rule(k); });
  n += diff(want_src, mirror_.sources,
            [&](const zs_source_key& k, uint8_t v) { tx.set_source(k, static_cast<zs_source_kind>(v)); },
            [&](const zs_source_key& k) { tx.remove_source(k); });
  n += diff(want_pfx, mirror_.source_prefixes,
            [&](const zs_source_prefix_key& k, uint8_t v) {
              tx.set_source_prefix(k, static_cast<zs_source_prefix_state>(v));
            },
            [&](const zs_source_prefix_key& k) { tx.remove_source_prefix(k); });
  n += diff(want_untr, mirror_.untracked,
            [&](const zs_untracked_key& k, const zs_untracked_value& v) { tx.set_untracked(k, v); },
            [&](const zs_untracked_key& k) { tx.remove_untracked(k); });
  tx.commit();

  // endpoints first (above), then programs: a new interface is never seen unmanaged
  std::set<std::string> names;
  for (const auto& [ifindex, name_kind] : attach_to) {
    attachments_.ensure(ifindex, name_kind.first, name_kind.second);
    names.insert(name_kind.first);
  }
  attachments_.keep_only(names);
  for (const auto& [ifindex, ep] : mirror_.endpoints)
    if (!want_eps.count(ifindex) && !ifname_of(ifindex).empty()) detach(ifindex);
  mirror_.endpoints = std::move(want_eps);
  mirror_.ipcache = want.ipcache;
  mirror_.policy = want.policy;
  mirror_.sources = std::move(want_src);
  mirror_.source_prefixes = std::move(want_pfx);
  mirror_.untracked = std::move(want_untr);
  return n;
}

bool Reconciler::links_changed(const Compiled& want) const {
  for (const auto& [ifname, ep] : want.endpoints) {
    unsigned ifindex = if_nametoindex(ifname.c_str());
    bool known = ifindex && mirror_.endpoints.count(ifindex);
    if (!known || !attachments_.known(ifname, ifindex)) return true;
  }
  for (const auto& [ifindex, ep] : mirror_.endpoints)
    if (ifname_of(ifindex).empty()) return true;
  return false;
}

}  // namespace zeroseg
