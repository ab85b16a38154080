// SPDX-License-Identifier: Apache-2.0
#include "agent/state_views.h"

#include <algorithm>

#include "abi/names.h"
#include "common/error.h"

namespace zeroseg {

using nlohmann::json;

json policies_view(const StateSnapshot& state) {
  json out = json::array();
  for (const auto& p : state.desired->policies) {
    size_t selected = 0;
    for (const auto& w : state.desired->workloads)
      if (w.meta.ns == p.meta.ns && p.selector.matches(w.meta.labels)) selected++;
    std::string types = std::string(p.ingress ? "ingress" : "") + (p.ingress && p.egress ? "," : "") +
                        (p.egress ? "egress" : "");
    out.push_back({{"kind", p.kind_name()},
                   {"namespace", p.meta.ns},
                   {"name", p.meta.name},
                   {"mode", p.audit ? "audit" : "enforce"},
                   {"directions", types},
                   {"selector", p.selector.str()},
                   {"selected", selected},
                   {"rules", p.allow_in.size() + p.allow_out.size() + p.deny_in.size() + p.deny_out.size()}});
  }
  return out;
}

json policy_view(const StateSnapshot& state, const std::string& ref) {
  for (const auto& p : state.desired->policies)
    if (p.ref() == ref || p.meta.ns + "/" + p.meta.name == ref || p.meta.name == ref) {
      json rules = json::array();
      for (const auto& [id, info] : state.compiled->rules)
        if (info.policy() == p.ref()) rules.push_back({{"id", id}, {"rule", info.str()}});
      return {{"object", p.ref()}, {"document", p.meta.document.str()}, {"rules", rules}};
    }
  throw Error("no policy " + ref);
}

json workloads_view(const StateSnapshot& state) {
  json out = json::array();
  for (const auto& w : state.desired->workloads) {
    json ips = json::array();
    for (const auto& ip : w.ips) ips.push_back(ip.str());
    uint32_t identity = 0;
    for (const auto& [id, ci] : state.compiled->identities)
      if (std::find(ci.workloads.begin(), ci.workloads.end(), w.meta.ns + "/" + w.meta.name) != ci.workloads.end())
        identity = id;
    json j = {{"namespace", w.meta.ns}, {"name", w.meta.name}, {"identity", identity},
              {"labels", w.meta.labels}, {"interface", w.interface}, {"ips", ips},
              {"attach", attach_kind_name(w.attach)}};
    if (auto it = state.compiled->endpoints.find(w.interface); !w.interface.empty() && it != state.compiled->endpoints.end()) {
      j["ingress"] = mode_name(it->second.mode[ZS_DIR_INGRESS]);
      j["egress"] = mode_name(it->second.mode[ZS_DIR_EGRESS]);
      j["attached"] = state.attached.count(w.interface) > 0;
    }
    out.push_back(j);
  }
  return out;
}

json identities_view(const StateSnapshot& state) {
  json out = json::array();
  for (uint32_t id : {ZS_ID_HOST, ZS_ID_WORLD, ZS_ID_QUARANTINE})
    out.push_back({{"identity", id}, {"name", identity_name(id)}, {"reserved", true}});
  for (const auto& [id, ci] : state.compiled->identities)
    out.push_back({{"identity", id}, {"labels", ci.labels}, {"workloads", ci.workloads}, {"cidr", ci.cidr},
                   {"reserved", false}});
  return out;
}

}  // namespace zeroseg
