// SPDX-License-Identifier: Apache-2.0
// FlowLedger: the distinct conversations the node has seen (source and
// destination address, protocol, destination port or ICMP type), each with
// how many flows, when first and last, and the verdict they got. What
// `policy suggest` learns least-privilege policies from, and what
// `policy diff` replays against a draft. Fed with flow starts and denies
// on the telemetry thread; read as a copy from others.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "net/addr.h"
#include "telemetry/flow_catalog.h"
#include "telemetry/flow_record.h"

namespace zeroseg {

struct Conversation {
  IpAddr src, dst;
  uint8_t proto = 0;
  uint16_t port = 0;  // destination port; ICMP: the echo/request type
  uint64_t flows = 0;
  int64_t first_ns = 0, last_ns = 0;
  uint8_t verdict = 0;  // zs_verdict of the last flow (the stricter end's)
  uint16_t last_sport = 0;  // the last flow's source port: its other end is not another flow
};

class FlowLedger {
 public:
  static constexpr size_t kMax = 200'000;  // conversations; past it, new ones are counted, not kept

  // A start or a deny; ends and unanswered flows are not new conversations.
  void record(const FlowRecord& r);
  std::vector<Conversation> snapshot() const;
  uint64_t dropped() const;

 private:
  struct Key {
    IpAddr src, dst;
    uint8_t proto;
    uint16_t port;
    bool operator==(const Key& o) const { return src == o.src && dst == o.dst && proto == o.proto && port == o.port; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return IpAddrHash()(k.src) * 31 + IpAddrHash()(k.dst) * 7 + (size_t{k.proto} << 16 | k.port);
    }
  };
  mutable std::mutex mu_;
  std::unordered_map<Key, Conversation, KeyHash> seen_;
  uint64_t dropped_ = 0;
};

}  // namespace zeroseg
