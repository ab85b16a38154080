// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <zeroseg/config.h>

#include <array>
#include <cstdint>
#include <string>

namespace zeroseg {

// How many ipcache and policy entries use each prefix length: the datapath
// probes only the lengths in use (zs_lookup_plan), so the agent keeps these
// counts as entries come and go.
class PrefixLengthUse {
 public:
  void add_ip(uint8_t family, uint8_t plen, int delta);
  void add_port(uint8_t plen, int delta);
  // A policy key: its port length, and whether it is a wildcard peer or protocol.
  void add_policy_key(uint32_t peer, uint8_t proto, uint8_t port_plen, int delta);
  // A source validation entry (zs_sources) of family.
  void add_source(uint8_t family, int delta);
  // Untracked deny trie entries (include/zeroseg/untracked.h) come or go.
  void add_untracked(int64_t delta) { untracked_ += delta; }

  // The plan the datapath follows, longest lengths first; throws when more
  // distinct lengths are in use than the datapath probes.
  zs_lookup_plan plan() const;

 private:
  std::array<int64_t, 33> v4_{};
  std::array<int64_t, 129> v6_{};
  std::array<int64_t, 17> port_{};
  int64_t any_peer_ = 0, any_proto_ = 0;
  int64_t sources_v4_ = 0, sources_v6_ = 0;
  int64_t untracked_ = 0;
};

}  // namespace zeroseg
