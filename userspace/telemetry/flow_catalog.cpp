// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_catalog.h"

#include <net/if.h>
#include <zeroseg/identity.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/verdict.h>

#include <atomic>
#include <cstring>

#include "datapath/names.h"

namespace zeroseg {

size_t IpAddrHash::operator()(const IpAddr& a) const {
  uint64_t lo, hi;
  std::memcpy(&lo, a.bytes.data(), 8);
  std::memcpy(&hi, a.bytes.data() + 8, 8);
  return std::hash<uint64_t>()(lo * 0x9e3779b97f4a7c15ULL ^ hi ^ a.family);
}

const char* flow_event_name(FlowEvent e) {
  switch (e) {
    case FlowEvent::start: return "flow-start";
    case FlowEvent::deny: return "deny";
    case FlowEvent::end: return "flow-end";
  }
  return "?";
}

const char* flow_end_reason_name(FlowEndReason r) {
  switch (r) {
    case FlowEndReason::none: return "";
    case FlowEndReason::timeout: return "timeout";
    case FlowEndReason::closed: return "closed";
    case FlowEndReason::revoked: return "revoked";
    case FlowEndReason::evicted: return "evicted";
  }
  return "?";
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  size_t plain = 0;  // chars since the last escape, appended in one go
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      }
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

namespace {

IpAddr tuple_addr(const __u32* words, uint8_t family) {
  IpAddr a;
  a.family = family == ZS_FAMILY_IPV6 ? 6 : 4;
  std::memcpy(a.bytes.data(), words, a.family == 4 ? 4 : 16);
  return a;
}

std::string labels_json(const Labels& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ',';
    append_json_string(out, k);
    out += ':';
    append_json_string(out, v);
  }
  return out + "}";
}

}  // namespace

Named::Named(std::string t) : text(std::move(t)) { append_json_string(json, text); }

IpAddr tuple_source(const zs_tuple& t) { return tuple_addr(t.saddr, t.family); }
IpAddr tuple_destination(const zs_tuple& t) { return tuple_addr(t.daddr, t.family); }

std::shared_ptr<const FlowCatalog> FlowCatalog::build(std::string node, const Compiled& compiled,
                                                      const ObjectSet& desired) {
  auto c = std::make_shared<FlowCatalog>(std::move(node));
  for (const auto& [ifname, ep] : compiled.endpoints)
    if (unsigned ifindex = if_nametoindex(ifname.c_str())) c->endpoints_[ifindex] = {Named(ifname), ep.workload};
  for (const auto& w : desired.workloads)
    for (const auto& ip : w.ips) c->workloads_by_ip_[ip] = Named(w.meta.ns + "/" + w.meta.name);
  for (const auto& [id, ident] : compiled.identities) {
    std::string name = !ident.cidr.empty()             ? ident.cidr
                       : ident.workloads.size() == 1 ? ident.workloads[0]
                                                     : labels_str(ident.labels);
    c->identities_[id] = {Named(name), labels_json(ident.labels)};
  }
  for (const auto& [id, info] : compiled.rules) c->rules_[id] = {info, Named(info.policy), Named(info.str())};
  for (const auto& [subject, dirs] : compiled.selected_by)
    for (int d = 0; d < 2; d++) {
      std::string s;
      for (const auto& p : dirs[d]) s += (s.empty() ? "" : ", ") + p;
      c->selected_by_[subject][d] = s;
    }
  return c;
}

const FlowCatalog::Endpoint& FlowCatalog::endpoint(uint32_t ifindex) const {
  if (auto it = endpoints_.find(ifindex); it != endpoints_.end()) return it->second;
  auto [it, fresh] = other_interfaces_.try_emplace(ifindex);
  if (fresh) {
    char name[IF_NAMESIZE] = {};
    it->second.interface = Named(if_indextoname(ifindex, name) ? name : "if" + std::to_string(ifindex));
  }
  return it->second;
}

const Named& FlowCatalog::party(const IpAddr& address, uint32_t identity) const {
  if (auto it = workloads_by_ip_.find(address); it != workloads_by_ip_.end()) return it->second;
  return this->identity(identity).name;
}

FlowCatalog::FlowCatalog(std::string node) : node_(std::move(node)) {
  // the reserved identities every flow may name, outside the memo's lock
  for (uint32_t id : {ZS_ID_ANY, ZS_ID_HOST, ZS_ID_WORLD, ZS_ID_QUARANTINE})
    identities_[id] = {Named(identity_name(id)), "{}"};
}

uint64_t FlowCatalog::next_serial() {
  static std::atomic<uint64_t> n{0};
  return ++n;
}

const FlowCatalog::Identity& FlowCatalog::identity(uint32_t id) const {
  if (auto it = identities_.find(id); it != identities_.end()) return it->second;
  // reserved identities (world, host, ...) and ones this catalog predates
  std::lock_guard lock(other_identities_mu_);
  auto [it, fresh] = other_identities_.try_emplace(id);
  if (fresh) it->second = {Named(identity_name(id)), "{}"};
  return it->second;
}

const FlowCatalog::Rule* FlowCatalog::rule(uint32_t id) const {
  auto it = rules_.find(id);
  return it == rules_.end() ? nullptr : &it->second;
}

const Named& FlowCatalog::explain(const FlowRecord& r) const {
  // the sentence depends on these alone: compute each once
  ExplainKey k{r.subject, r.rule_id, r.ifindex, static_cast<uint8_t>(r.event), static_cast<uint8_t>(r.end_reason),
               r.verdict, r.reason, r.direction};
  if (auto it = explanations_.find(k); it != explanations_.end()) return it->second;
  return explanations_.emplace(k, Named(explain_uncached(r))).first->second;
}

std::string FlowCatalog::explain_uncached(const FlowRecord& r) const {
  auto rule_name = [&] {
    const Rule* info = rule(r.rule_id);
    return info ? info->name.text : "rule " + std::to_string(r.rule_id);
  };
  const char* dir = direction_name(r.direction);
  std::string who = endpoint(r.ifindex).workload;
  if (who.empty()) who = identity(r.subject).name.text;
  if (r.event == FlowEvent::end && r.end_reason == FlowEndReason::revoked)
    return "revoked: the policy changed and no longer allows this flow";
  if (r.reason == ZS_REASON_NONE && r.verdict == ZS_VERDICT_ALLOWED)
    return r.rule_id ? "allowed by " + rule_name() : "allowed: no policy selects " + who + " for " + std::string(dir);
  if (r.reason != ZS_REASON_POLICY_DENY && r.reason != ZS_REASON_DEFAULT_DENY)
    return std::string("dropped: ") + reason_name(r.reason);
  std::string why;
  if (r.reason == ZS_REASON_POLICY_DENY) {
    why = "denied by " + rule_name();
  } else {
    std::string selectors;
    if (auto it = selected_by_.find(r.subject); it != selected_by_.end()) selectors = it->second[r.direction & 1];
    bool several = selectors.find(", ") != std::string::npos;
    why = "default deny: " + (selectors.empty() ? std::string("a policy") : selectors) +
          (several ? " select " : " selects ") + who + " for " + dir + " and no rule allows this";
  }
  return r.verdict == ZS_VERDICT_AUDIT ? "audit (passed): would be " + why : why;
}

}  // namespace zeroseg
