// SPDX-License-Identifier: Apache-2.0
// Reconciler: brings the datapath's maps and attachments to a compiled
// state. It owns the mirror of what the maps hold (their active slots), so
// a change is diffed in memory: reading 100k entries back costs more than
// the change. Not thread-safe: the agent calls it under its lock.
#pragma once

#include <cstring>
#include <map>
#include <set>
#include <string>

#include "agent/attachments.h"
#include "loader/datapath.h"
#include "net/addr.h"
#include "policy/compiler.h"

namespace zeroseg {

class Transaction;

class Reconciler {
 public:
  // Reads the maps' active slots: what the last agent left enforced.
  explicit Reconciler(Datapath& dp);

  // Brings the maps to `want` in one transaction, then attaches to new
  // endpoints and detaches from removed ones. Throws (with the maps as
  // they were) when the change does not fit. Returns the entries changed.
  size_t reconcile(const Compiled& want);
  // reconcile() for a compile_policies() result: endpoints and the
  // ipcache are as they were, and only the policy keys it touched can differ.
  size_t reconcile_policy(const Compiled& want);
  // reconcile() for a compile_workloads() result, from `current` (the
  // state the maps hold): only the policy keys, ipcache prefixes and
  // endpoints it lists can differ, and those endpoints' source entries.
  // An uplink's endpoint or allowedSourcePrefixes among them: reconcile().
  // (reconcile_workloads.cpp)
  size_t reconcile_workloads(const Compiled& want, const Compiled& current);
  // The entries reconcile(want) would change, from `current` (a dry run).
  size_t count_changes(const Compiled& want, const Compiled& current) const;
  // True when a link came or went since the last reconcile: an endpoint
  // of `want` without its entry or programs, or an entry without its link.
  bool links_changed(const Compiled& want) const;

  bool has_endpoint(uint32_t ifindex) const { return mirror_.endpoints.count(ifindex) > 0; }
  std::set<std::string> attached_interfaces() const { return attachments_.enforced(); }
  // Re-checks the attachments against the kernel and repairs them
  // (Attachments::verify); returns the hooks repaired.
  size_t verify_attachments() { return attachments_.verify(); }
  const Attachments& attachments() const { return attachments_; }

 private:
  // Map keys of plain bytes (padding zeroed), ordered as bytes.
  struct BytesLess {
    template <class K>
    bool operator()(const K& a, const K& b) const {
      return std::memcmp(&a, &b, sizeof(K)) < 0;
    }
  };
  using Sources = std::map<zs_source_key, uint8_t, BytesLess>;
  using SourcePrefixes = std::map<zs_source_prefix_key, uint8_t, BytesLess>;
  using Untracked = std::map<zs_untracked_key, zs_untracked_value, BytesLess>;

  struct Mirror {
    std::map<uint32_t, zs_endpoint> endpoints;
    SharedMap<Prefix, uint32_t> ipcache;  // shares chunks with the compiled state's
    PolicyEntries policy;
    Sources sources;
    SourcePrefixes source_prefixes;
    Untracked untracked;  // the trie packets read now
    static Mirror read(const Datapath& dp);
  };

  static void want_sources(const std::map<uint32_t, const CompiledEndpoint*>& by_ifindex, Sources& sources,
                           SourcePrefixes& prefixes);
  // The uplinks' untracked deny entries (include/zeroseg/untracked.h).
  static Untracked want_untracked(const std::map<uint32_t, const CompiledEndpoint*>& by_ifindex);
  // Stages want's entries for its touched policy keys; the mirror follows
  // in mirror_policy() once committed.
  size_t stage_policy(Transaction& tx, const Compiled& want) const;
  void mirror_policy(const Compiled& want);
  void check_source_prefix_room(const std::map<uint32_t, const CompiledEndpoint*>& by_ifindex,
                                size_t wanted) const;

  Datapath& dp_;
  Mirror mirror_;
  Attachments attachments_;  // the interfaces with (or waiting for) our programs
};

}  // namespace zeroseg
