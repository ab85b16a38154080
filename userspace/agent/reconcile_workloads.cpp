// SPDX-License-Identifier: Apache-2.0
// Reconciler::reconcile_workloads: pod churn written as what it changes.
//
// Why no order of writes can open a window where traffic is wrongly
// allowed: every entry below (the policy keys of an identity that appears
// or goes, the ipcache entries of the addresses that came or went, the
// endpoints and their source entries) is staged into ONE Transaction. It
// writes the inactive slot of each key, which no packet reads, and then
// flips the generation with one 8-byte store (include/zeroseg/slots.h):
// a packet sees the whole old state or the whole new one, never an
// address with its new identity before the rules that judge that identity,
// nor a rule gone while an address still maps to it. So the usual
// live-write orders (deny rules first; identity and ipcache before policy
// on an add; policy before the ipcache on a remove) are not needed, and
// would not be enough: a bigger diff written live leaves half-states
// whatever its order. The flip also bumps the policy revision, so
// established flows are judged again on their next packet (a relabelled
// pod's open connections that its new identity may not keep are cut).
//
// Outside the transaction, only the attachments: programs go onto a new
// interface after its endpoint entry is in force (never seen unmanaged with
// our programs on it), and come off a removed one after its entry went (as
// reconcile() does: the workload is no longer ours to enforce).
#include <net/if.h>

#include <cstring>

#include "agent/reconciler.h"
#include "loader/attach.h"
#include "loader/transaction.h"

namespace zeroseg {
namespace {

zs_endpoint endpoint_entry(const CompiledEndpoint& ep) {
  zs_endpoint e{};
  e.identity = ep.identity;
  e.kind = static_cast<uint8_t>(ep.kind);
  e.mode[ZS_DIR_INGRESS] = ep.mode[ZS_DIR_INGRESS];
  e.mode[ZS_DIR_EGRESS] = ep.mode[ZS_DIR_EGRESS];
  return e;
}

}  // namespace

size_t Reconciler::reconcile_workloads(const Compiled& want, const Compiled& current) {
  struct Change {
    std::string ifname;
    uint32_t ifindex;
    const CompiledEndpoint* before;  // null: new
    const CompiledEndpoint* after;   // null: gone
  };
  std::vector<Change> changes;
  for (const auto& ifname : want.touched_endpoints) {
    auto b = current.endpoints.find(ifname);
    auto a = want.endpoints.find(ifname);
    const CompiledEndpoint* before = b == current.endpoints.end() ? nullptr : &b->second;
    const CompiledEndpoint* after = a == want.endpoints.end() ? nullptr : &a->second;
    // an uplink's entries name every local workload; allowed prefixes'
    // room is checked over all of them: both by the whole reconcile
    for (const CompiledEndpoint* ep : {before, after})
      if (ep && (ep->kind == ZS_ATTACH_HOST || !ep->allowed_sources.empty() || !ep->denied_sources.empty()))
        return reconcile(want);
    unsigned ifindex = if_nametoindex(ifname.c_str());
    // an interface gone before its workload (a pod's veth is deleted
    // first): its endpoint and source entries are under an ifindex its
    // name no longer finds, and would stay (the uplinks' too: flows in to
    // the address taken as a local workload's, in no share). The whole
    // reconcile's diff against what is written removes them
    if (!ifindex && before) return reconcile(want);
    if (ifindex) changes.push_back({ifname, ifindex, before, after});  // else: attached when the link appears
  }
  std::vector<uint32_t> uplinks;
  for (const auto& [ifindex, e] : mirror_.endpoints)
    if (e.kind == ZS_ATTACH_HOST) uplinks.push_back(ifindex);

  Transaction tx(dp_);
  size_t n = stage_policy(tx, want);
  std::vector<std::pair<Prefix, uint32_t>> ipcache;  // 0: removed
  for (const auto& p : want.touched_prefixes) {
    auto w = want.ipcache.find(p);
    auto h = mirror_.ipcache.find(p);
    if (w == want.ipcache.end()) {
      if (h == mirror_.ipcache.end()) continue;
      tx.remove_identity(p);
      ipcache.emplace_back(p, 0);
    } else if (h == mirror_.ipcache.end() || h->second != w->second) {
      tx.set_identity(p, w->second);
      ipcache.emplace_back(p, w->second);
    } else {
      continue;
    }
    n++;
  }
  Sources sources_before, sources_after;
  for (const auto& c : changes) {
    for (const auto& [ep, into] : {std::pair{c.before, &sources_before}, std::pair{c.after, &sources_after}}) {
      if (!ep) continue;
      for (const auto& ip : ep->ips) {
        (*into)[Transaction::source_key(c.ifindex, ip)] = ZS_SOURCE_OWN;
        for (uint32_t uplink : uplinks) (*into)[Transaction::source_key(uplink, ip)] = ZS_SOURCE_LOCAL;
      }
    }
    auto h = mirror_.endpoints.find(c.ifindex);
    if (!c.after) {
      if (h == mirror_.endpoints.end()) continue;
      tx.remove_endpoint(c.ifindex);
    } else if (zs_endpoint e = endpoint_entry(*c.after);
               h == mirror_.endpoints.end() || std::memcmp(&h->second, &e, sizeof(e)) != 0) {
      tx.set_endpoint(c.ifindex, e);
    } else {
      continue;
    }
    n++;
  }
  std::vector<std::pair<zs_source_key, uint8_t>> sources;  // 0: removed
  for (const auto& [k, v] : sources_after)
    if (auto h = mirror_.sources.find(k); h == mirror_.sources.end() || h->second != v) {
      tx.set_source(k, static_cast<zs_source_kind>(v));
      sources.emplace_back(k, v);
    }
  for (const auto& [k, v] : sources_before)
    if (!sources_after.count(k) && mirror_.sources.count(k)) {
      tx.remove_source(k);
      sources.emplace_back(k, 0);
    }
  n += sources.size();
  tx.commit();

  mirror_policy(want);
  for (const auto& [p, id] : ipcache)
    if (id)
      mirror_.ipcache[p] = id;
    else
      mirror_.ipcache.erase(p);
  for (const auto& [k, v] : sources)
    if (v)
      mirror_.sources[k] = v;
    else
      mirror_.sources.erase(k);
  for (const auto& c : changes) {
    if (c.after) {
      mirror_.endpoints[c.ifindex] = endpoint_entry(*c.after);
      attachments_.ensure(c.ifindex, c.ifname, c.after->kind);
    } else if (mirror_.endpoints.erase(c.ifindex)) {
      attachments_.forget(c.ifname);
      detach(c.ifindex);
    }
  }
  return n;
}

}  // namespace zeroseg
