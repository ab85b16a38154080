// SPDX-License-Identifier: Apache-2.0
// The agent's attachments: which interfaces carry (or should carry) our
// programs, what became of each attach, and the check that finds a hook
// removed or replaced behind the agent's back (a deleted clsact qdisc, an
// `ip link set IF xdp off`, another program on our tc filter) and puts it
// back. Not thread-safe: the agent calls it under its lock.
#pragma once

#include <zeroseg/endpoint.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "loader/attach.h"

namespace zeroseg {

class Datapath;

// The hooks a repair is counted by.
enum class RepairedHook { xdp_ingress, tc_ingress, tc_egress, count };
const char* repaired_hook_name(RepairedHook h);       // xdp | tc
const char* repaired_direction_name(RepairedHook h);  // ingress | egress

struct AttachCounters {
  uint64_t repairs[static_cast<int>(RepairedHook::count)] = {};
  uint64_t failures = 0;  // attach attempts that left a hook not ours
  uint64_t checks = 0;    // checks of every interface against the kernel
};

class Attachments {
 public:
  explicit Attachments(const Datapath& dp) : dp_(dp) {}

  // Makes ifname carry both hooks: attaches an interface new to it (or
  // whose ifindex or kind changed), retries one whose attach failed, and
  // repairs one whose hooks are no longer ours.
  void ensure(uint32_t ifindex, const std::string& ifname, zs_attach_kind kind);
  // Forgets every interface not in `keep` (their endpoints are gone).
  void keep_only(const std::set<std::string>& keep);
  // Forgets one interface (its endpoint is gone).
  void forget(const std::string& ifname) { entries_.erase(ifname); }
  // True when ifname is known with this ifindex (attached, or its attach
  // failed and is retried by verify()).
  bool known(const std::string& ifname, uint32_t ifindex) const;
  // Compares every known interface's hooks with the programs the agent
  // loaded, re-attaches what is missing or foreign, and retries failed
  // attaches. Returns the hooks repaired.
  size_t verify();

  // Interfaces whose hooks were both ours at the last look.
  std::set<std::string> enforced() const;
  struct Problem {
    std::string ifname;
    std::string error;  // which hook, and why
  };
  // Interfaces that exist and should be enforced, and are not (fully).
  std::vector<Problem> problems() const;
  const AttachCounters& counters() const { return counters_; }

 private:
  struct Entry {
    Attachment a;
    zs_attach_kind kind = ZS_ATTACH_WORKLOAD;
    std::string logged;  // the last error logged, so a lasting failure logs once
  };
  void attach_new(Entry& e, uint32_t ifindex, const std::string& ifname, zs_attach_kind kind);
  size_t repair(Entry& e, const AttachmentCheck& c);
  void retry(Entry& e);
  void report(Entry& e);

  const Datapath& dp_;
  std::map<std::string, Entry> entries_;
  AttachCounters counters_;
};

}  // namespace zeroseg
