// SPDX-License-Identifier: Apache-2.0
// Identity refinement: two workloads (or two addresses) share an identity
// only when every rule treats them alike. Selectors see namespace and
// labels, which the identity's label set holds; two things see more:
//  - an ipBlock (or a quarantine's management prefix) sees an address:
//    it matches by the prefixes that contain the address;
//  - a named port sees the destination workload's port names.
// So an identity is keyed by (namespace, labels, refinement), where the
// refinement is "" unless the workloads of a label set differ in those:
//  - ports: the workload's named ports that not every workload of its
//    label set has (name/protocol/number, sorted);
//  - cidrs: the installed prefixes that contain the address but not every
//    address of its label set (sorted).
// An endpoint's own identity (the subject of its rules) takes the ports
// part only; each address's identity (the peer in others' rules, as the
// ipcache maps it) takes both. In the usual case (same ports, no prefix
// covering some addresses of a label set and not others) both are "" and
// the identity is the label set's, as before.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "policy/objects.h"

namespace zeroseg::compiling {

// The label that carries a refinement into the allocator's key. Never
// shown: flows, traces and alerts show the identity's labels without it.
inline constexpr const char* kRefinementLabel = "zeroseg.io/refinement";

struct Refinement {
  std::string subject;                 // the endpoint's (ports part)
  std::vector<std::string> addresses;  // one per workload address (ports and cidrs parts)
};

// One per workload of `workloads`; group[i] is workload i's label set key
// (workloads with the same key share identities), nullptr for one that
// takes no part (quarantined). prefixes: every prefix a rule names.
std::vector<Refinement> refine_identities(const std::vector<const Workload*>& workloads,
                                          const std::vector<const std::string*>& group,
                                          const std::set<Prefix>& prefixes);

}  // namespace zeroseg::compiling
