// SPDX-License-Identifier: Apache-2.0
// A conntrack that holds what the test puts in it, for the flow table's
// sweeps (telemetry_test.cpp, community_id_test.cpp) without a kernel.
#pragma once

#include <zeroseg/conntrack.h>

#include <utility>
#include <vector>

#include "abi/kernel_flows.h"
#include "telemetry/flow_table.h"

namespace zeroseg::test {

class FakeConntrack : public ConntrackReader {
 public:
  std::vector<std::pair<zs_ct_key, zs_ct_entry>> flows;
  void for_each(const Visit& fn) const override {
    for (const auto& [k, e] : flows) fn(k, e);
  }
  bool lookup(const zs_ct_key& key, zs_ct_entry* entry) const override {
    for (const auto& [k, e] : flows)
      if (CtKeyEqual{}(k, key)) return *entry = e, true;
    return false;
  }
  // the sweep's deletes are not what these tests look at
  bool remove(const zs_ct_key&) const override { return false; }
};

}  // namespace zeroseg::test
