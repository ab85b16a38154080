// SPDX-License-Identifier: Apache-2.0
// Untracked deny rules (include/zeroseg/untracked.h) compiled into the
// prefixes of an uplink's trie, whose longest match answers exactly what
// the rules say together.
#pragma once

#include <zeroseg/untracked.h>

#include <cstdint>
#include <vector>

#include "net/addr.h"

namespace zeroseg {

// One cidr peer of an untracked rule.
struct UntrackedRule {
  Prefix cidr;
  std::vector<Prefix> except;
  uint32_t rule_id = 0;
  bool audit = false;  // its policy's mode
};

// One trie entry: what a source whose longest match is prefix gets.
struct UntrackedEntry {
  Prefix prefix;
  uint8_t action = ZS_UNTRACKED_PASS;  // zs_untracked_action
  uint32_t rule_id = 0;                // the deciding rule; 0 for a pass
  bool operator==(const UntrackedEntry&) const = default;
};

// A source is denied when some rule's cidr holds it and none of that
// rule's excepts does. An enforced rule beats an audit one, then the
// lowest rule id decides (as fold_vote). The entries, sorted, are the
// cidrs and excepts where the answer changes from the one of the entry
// that covers them (or from no entry: pass).
std::vector<UntrackedEntry> compile_untracked(const std::vector<UntrackedRule>& rules);

}  // namespace zeroseg
