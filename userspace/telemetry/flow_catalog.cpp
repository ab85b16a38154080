// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_catalog.h"

#include <net/if.h>
#include <zeroseg/identity.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/verdict.h>

#include <atomic>
#include <cstring>

#include "abi/names.h"

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
    case FlowEvent::unanswered: return "flow-unanswered";
    case FlowEvent::refused: return "flow-refused";
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

FlowCatalog::FlowCatalog(std::string node) : FlowCatalog(std::move(node), std::make_shared<const Compiled>()) {}

FlowCatalog::FlowCatalog(std::string node, std::shared_ptr<const Compiled> compiled)
    : node_(std::move(node)), compiled_(compiled ? std::move(compiled) : std::make_shared<const Compiled>()) {}

std::shared_ptr<const FlowCatalog> FlowCatalog::another_reader() const {
  auto c = std::make_shared<FlowCatalog>(node_.text, compiled_);
  c->serial_ = serial_;
  return c;
}

uint64_t FlowCatalog::next_serial() {
  static std::atomic<uint64_t> n{0};
  return ++n;
}

const FlowCatalog::Endpoint& FlowCatalog::endpoint(uint32_t ifindex) const {
  auto [it, fresh] = endpoints_.try_emplace(ifindex);
  if (fresh) {
    char name[IF_NAMESIZE] = {};
    std::string ifname = if_indextoname(ifindex, name) ? name : "if" + std::to_string(ifindex);
    it->second.interface = Named(ifname);
    if (auto ep = compiled_->endpoints.find(ifname); ep != compiled_->endpoints.end())
      it->second.workload = ep->second.workload;
  }
  return it->second;
}

const Named& FlowCatalog::party(const IpAddr& address, uint32_t identity) const {
  if (auto it = workloads_by_ip_.find(address); it != workloads_by_ip_.end()) return it->second;
  if (auto w = compiled_->workloads_by_ip.find(address); w != compiled_->workloads_by_ip.end())
    return workloads_by_ip_.emplace(address, Named(w->second)).first->second;
  return this->identity(identity).name;
}

bool FlowCatalog::workload_address(const IpAddr& address) const {
  return workloads_by_ip_.count(address) || compiled_->workloads_by_ip.count(address);
}

const FlowCatalog::Identity& FlowCatalog::identity(uint32_t id) const {
  auto [it, fresh] = identities_.try_emplace(id);
  if (!fresh) return it->second;
  auto c = compiled_->identities.find(id);
  if (c == compiled_->identities.end()) {
    it->second = {Named(identity_name(id)), "{}"};
  } else {
    const CompiledIdentity& ident = c->second;
    std::string name = !ident.cidr.empty()             ? ident.cidr
                       : ident.workloads.size() == 1 ? ident.workloads[0]
                                                     : labels_str(ident.labels);
    it->second = {Named(name), labels_json(ident.labels)};
  }
  return it->second;
}

const FlowCatalog::Rule* FlowCatalog::rule(uint32_t id) const {
  if (auto it = rules_.find(id); it != rules_.end()) return &it->second;
  auto info = compiled_->rules.find(id);
  if (info == compiled_->rules.end()) return nullptr;
  return &rules_.emplace(id, Rule{info->second, Named(info->second.policy()), Named(info->second.str())}).first->second;
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
  if (r.reason == ZS_REASON_UNTRACKED_DENY)  // (dropped before conntrack: include/zeroseg/untracked.h)
    return "denied untracked by " + rule_name();
  if (r.reason != ZS_REASON_POLICY_DENY && r.reason != ZS_REASON_DEFAULT_DENY)
    return std::string("dropped: ") + reason_name(r.reason);
  std::string why;
  if (r.reason == ZS_REASON_POLICY_DENY) {
    why = "denied by " + rule_name();
  } else {
    auto it = compiled_->selected_by->find(r.subject);
    why = default_deny_why(it == compiled_->selected_by->end() ? std::vector<std::string>{}
                                                                : it->second[r.direction & 1],
                           who, dir);
  }
  return r.verdict == ZS_VERDICT_AUDIT ? "audit (passed): would be " + why : why;
}

std::string default_deny_why(const std::vector<std::string>& policies, const std::string& who,
                             const char* direction) {
  std::string named;
  for (const auto& p : policies) named += (named.empty() ? "" : ", ") + p;
  return "default deny: " + (named.empty() ? std::string("a policy") : named) +
         (policies.size() > 1 ? " select " : " selects ") + who + " for " + direction + " and no rule allows this";
}

}  // namespace zeroseg
