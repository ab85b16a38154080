// SPDX-License-Identifier: Apache-2.0
// How an apply or a delete changes the desired objects. An object is named
// by its ref (Kind/namespace/name); an apply adds what is new and replaces
// what changed (its YAML differs), a delete removes what it names. Each
// named object gets one outcome, in the order the change names them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "policy/objects.h"

namespace zeroseg {

// ref, then created | configured | unchanged | deleted | not found
using MergeOutcome = std::vector<std::pair<std::string, std::string>>;

void merge_objects(ObjectSet& into, const ObjectSet& incoming, MergeOutcome& outcome);
void remove_objects(ObjectSet& from, const ObjectSet& gone, MergeOutcome& outcome);

// "Workload/ns/name", "Namespace/name", "SegmentPolicy/ns/name".
std::string ref_of(const Workload& w);
std::string ref_of(const Namespace& n);
std::string ref_of(const Policy& p);

}  // namespace zeroseg
