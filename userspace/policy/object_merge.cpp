// SPDX-License-Identifier: Apache-2.0
#include "policy/object_merge.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "common/error.h"

namespace zeroseg {

std::string ref_of(const Workload& w) { return "Workload/" + w.meta.ns + "/" + w.meta.name; }
std::string ref_of(const Namespace& n) { return "Namespace/" + n.meta.name; }
std::string ref_of(const Policy& p) { return p.ref(); }

namespace {

// An object's ref within its kind's vector, as views: finding the few
// objects a change names among 10k builds no strings.
struct RefView {
  int kind;
  std::string_view ns, name;
  bool operator==(const RefView&) const = default;
};
struct RefViewHash {
  size_t operator()(const RefView& r) const {
    return std::hash<std::string_view>{}(r.name) * 31 + std::hash<std::string_view>{}(r.ns) + r.kind;
  }
};
RefView ref_view(const Workload& w) { return {0, w.meta.ns, w.meta.name}; }
RefView ref_view(const Namespace& n) { return {0, {}, n.meta.name}; }
RefView ref_view(const Policy& p) { return {static_cast<int>(p.kind), p.meta.ns, p.meta.name}; }

constexpr size_t kAbsent = static_cast<size_t>(-1);

// Where each of `named`'s objects sits in `in` (kAbsent: not there), found
// in one walk over `in`.
template <class T>
std::unordered_map<RefView, size_t, RefViewHash> positions(const SharedVector<T>& in, const SharedVector<T>& named) {
  std::unordered_map<RefView, size_t, RefViewHash> at;
  for (const auto& obj : named) at.emplace(ref_view(obj), kAbsent);
  if (at.empty()) return at;
  if (at.size() == 1) {  // pod churn: one object, compared with 10k without hashing them
    auto& [want, pos] = *at.begin();
    for (size_t i = 0; i < in.size(); i++)
      if (const T& obj = in[i]; obj.meta.name.size() == want.name.size() && ref_view(obj) == want) pos = i;
    return at;
  }
  for (size_t i = 0; i < in.size(); i++)
    if (auto it = at.find(ref_view(in[i])); it != at.end()) it->second = i;
  return at;
}

// Replaces or adds each incoming object in `into`, noting what happened.
template <class T>
void merge_kind(SharedVector<T>& into, const SharedVector<T>& incoming, MergeOutcome& outcome) {
  auto at = positions(into, incoming);
  for (size_t i = 0; i < incoming.size(); i++) {
    const T& obj = incoming[i];
    size_t& pos = at.at(ref_view(obj));
    if (pos == kAbsent) {
      pos = into.size();
      into.push_back(incoming.ptr(i));
      outcome.emplace_back(ref_of(obj), "created");
    } else if (into[pos].meta.document == obj.meta.document) {
      outcome.emplace_back(ref_of(obj), "unchanged");
    } else {
      into.set(pos, incoming.ptr(i));
      outcome.emplace_back(ref_of(obj), "configured");
    }
  }
}

template <class T>
void remove_kind(SharedVector<T>& from, const SharedVector<T>& gone, MergeOutcome& outcome) {
  auto at = positions(from, gone);
  std::vector<bool> drop(from.size());
  for (const auto& obj : gone) {
    size_t& pos = at.at(ref_view(obj));
    if (pos == kAbsent) {
      outcome.emplace_back(ref_of(obj), "not found");
    } else {
      drop[pos] = true;
      pos = kAbsent;  // named twice: the second finds it gone
      outcome.emplace_back(ref_of(obj), "deleted");
    }
  }
  if (std::find(drop.begin(), drop.end(), true) == drop.end()) return;
  SharedVector<T> kept;
  for (size_t i = 0; i < from.size(); i++)
    if (!drop[i]) kept.push_back(from.ptr(i));
  from = std::move(kept);
}

}  // namespace

void merge_objects(ObjectSet& into, const ObjectSet& incoming, MergeOutcome& outcome) {
  merge_kind(into.namespaces, incoming.namespaces, outcome);
  merge_kind(into.workloads, incoming.workloads, outcome);
  merge_kind(into.policies, incoming.policies, outcome);
}

void remove_objects(ObjectSet& from, const ObjectSet& gone, MergeOutcome& outcome) {
  remove_kind(from.namespaces, gone.namespaces, outcome);
  remove_kind(from.workloads, gone.workloads, outcome);
  remove_kind(from.policies, gone.policies, outcome);
}

const Workload* ObjectSet::find_workload(const std::string& spec) const {
  const Workload* found = nullptr;
  for (const auto& w : workloads) {
    if (w.meta.ns + "/" + w.meta.name != spec && w.meta.name != spec) continue;
    if (found) throw Error("\"" + spec + "\" names several workloads: say namespace/name");
    found = &w;
  }
  return found;
}

}  // namespace zeroseg
