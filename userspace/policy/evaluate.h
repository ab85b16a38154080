// SPDX-License-Identifier: Apache-2.0
// PolicyJudge: a new flow judged against a compiled state in user space,
// the way the datapath judges it (bpf/lib/policy_lookup.h): each end zeroseg
// guards is asked in its direction; an enforced deny beats an audit deny,
// which beats an allow, which beats the endpoint's default. For replaying
// recorded flows against a draft (`policy diff`), where no kernel holds
// the draft. `policy trace` asks the real datapath instead.
#pragma once

#include <zeroseg/verdict.h>

#include <map>
#include <string>

#include "policy/compiler.h"

namespace zeroseg {

class PolicyJudge {
 public:
  PolicyJudge(const Compiled& compiled, const ObjectSet& state);

  struct Verdict {
    uint8_t verdict = ZS_VERDICT_ALLOWED;  // allowed, denied or audit
    std::string why;  // "SegmentPolicy/prod/app ingress[0]", "default deny at prod/db ingress", ...
  };
  // port: the destination port; for ICMP, the type
  Verdict judge(const IpAddr& src, const IpAddr& dst, uint8_t proto, uint16_t port) const;

 private:
  uint32_t identity_of(const IpAddr& ip) const;
  Verdict side(const CompiledEndpoint& ep, const std::string& who, uint8_t dir, uint32_t peer, uint8_t proto,
               uint16_t port) const;

  const Compiled& c_;
  std::map<IpAddr, std::string> interface_of_;  // a workload's address -> its interface
  std::map<IpAddr, std::string> workload_of_;
  uint64_t now_tai_;
};

}  // namespace zeroseg
