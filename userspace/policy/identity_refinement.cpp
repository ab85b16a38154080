// SPDX-License-Identifier: Apache-2.0
#include "policy/identity_refinement.h"

#include <zeroseg/identity.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <string_view>
#include <tuple>

#include "policy/compilation.h"

namespace zeroseg::compiling {
namespace {

using PortName = std::tuple<std::string, uint8_t, uint16_t>;  // name, protocol, number

template <class T>
std::set<T> intersect(const std::set<T>& a, const std::set<T>& b) {
  std::set<T> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}

// What of `own` the group does not share: "" when nothing.
template <class T, class F>
std::string part(const char* name, const std::set<T>& own, const std::set<T>& common, F str) {
  std::string out;
  for (const auto& x : own)
    if (!common.count(x)) out += (out.empty() ? std::string(name) + "=" : ",") + str(x);
  return out;
}

// The prefixes that contain ip: one probe per length that some prefix of
// its family has, not a walk over every prefix.
std::set<Prefix> containing(const IpAddr& ip, const std::set<Prefix>& prefixes, const std::set<uint8_t>& lengths) {
  std::set<Prefix> out;
  for (uint8_t len : lengths)
    if (auto p = Prefix::of(ip, len); prefixes.count(p)) out.insert(p);
  return out;
}

}  // namespace

std::vector<Refinement> refine_identities(const std::vector<const Workload*>& workloads,
                                          const std::vector<const std::string*>& group,
                                          const std::set<Prefix>& prefixes) {
  std::vector<Refinement> out(workloads.size());
  std::map<uint8_t, std::set<uint8_t>> lengths;  // by family
  for (const auto& p : prefixes) lengths[p.addr.family].insert(p.len);
  std::map<std::string_view, std::vector<size_t>> groups;
  for (size_t i = 0; i < workloads.size(); i++) {
    out[i].addresses.resize(workloads[i]->ips.size());
    if (group[i]) groups[*group[i]].push_back(i);
  }
  for (const auto& [key, members] : groups) {
    // one workload with one address differs from nobody
    if (members.size() == 1 && workloads[members[0]]->ips.size() <= 1) continue;
    std::vector<std::set<PortName>> ports(members.size());
    std::vector<std::vector<std::set<Prefix>>> covering(members.size());
    std::set<PortName> common_ports;
    std::set<Prefix> common_prefixes;
    bool first_address = true;
    for (size_t m = 0; m < members.size(); m++) {
      const Workload& w = *workloads[members[m]];
      for (const auto& np : w.ports) ports[m].emplace(np.name, np.proto, np.port);
      common_ports = m ? intersect(common_ports, ports[m]) : ports[m];
      for (const auto& ip : w.ips) {
        covering[m].push_back(containing(ip, prefixes, lengths[ip.family]));
        common_prefixes = first_address ? covering[m].back() : intersect(common_prefixes, covering[m].back());
        first_address = false;
      }
    }
    for (size_t m = 0; m < members.size(); m++) {
      Refinement& r = out[members[m]];
      r.subject = part("ports", ports[m], common_ports, [](const PortName& p) {
        return std::get<0>(p) + "/" + std::to_string(std::get<1>(p)) + "/" + std::to_string(std::get<2>(p));
      });
      for (size_t a = 0; a < covering[m].size(); a++) {
        std::string cidrs = part("cidrs", covering[m][a], common_prefixes, [](const Prefix& p) { return p.str(); });
        r.addresses[a] = r.subject.empty() || cidrs.empty() ? r.subject + cidrs : r.subject + " " + cidrs;
      }
    }
  }
  return out;
}

// The allocator keys an identity by its label set, and the refinement,
// when there is one, as one more label.
std::vector<WorkloadIdentities> Compilation::allocate_identities(const std::vector<bool>& quarantined) {
  const auto& workloads = state_.workloads;
  std::vector<Labels> labels(workloads.size());
  std::vector<std::string> keys(workloads.size());
  std::vector<const Workload*> ws;
  std::vector<const std::string*> group;
  for (size_t i = 0; i < workloads.size(); i++) {
    const Workload& w = workloads[i];
    ws.push_back(&w);
    if (quarantined[i]) {
      group.push_back(nullptr);
      continue;
    }
    labels[i] = identity_labels(w, ns_labels(w.meta.ns));
    for (const auto& [k, v] : labels[i]) keys[i] += k + "=" + v + "\n";
    group.push_back(&keys[i]);
  }
  std::set<Prefix> prefixes = out_.policy_cidrs;
  prefixes.insert(management_.begin(), management_.end());
  std::vector<Refinement> refined = refine_identities(ws, group, prefixes);

  std::vector<WorkloadIdentities> out(workloads.size());
  for (size_t i = 0; i < workloads.size(); i++) {
    const Workload& w = workloads[i];
    std::string name = w.meta.ns + "/" + w.meta.name;
    auto take = [&](const std::string& refinement) -> uint32_t {
      uint32_t id = ZS_ID_QUARANTINE;
      if (!quarantined[i]) {
        if (refinement.empty()) {
          id = ids_.allocate(labels[i]);
        } else {
          Labels key = labels[i];
          key[kRefinementLabel] = refinement;
          id = ids_.allocate(key);
        }
      }
      auto& ci = out_.identities[id];
      if (ci.workloads.empty() || ci.workloads.back() != name) {
        ci.labels = quarantined[i] ? Labels{{"zeroseg.io/quarantine", "true"}} : labels[i];
        ci.workloads.push_back(name);
      }
      return id;
    };
    out[i].subject = take(refined[i].subject);
    for (const auto& r : refined[i].addresses)
      out[i].addresses.push_back(r == refined[i].subject ? out[i].subject : take(r));
  }
  return out;
}

}  // namespace zeroseg::compiling
