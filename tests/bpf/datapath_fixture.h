// SPDX-License-Identifier: Apache-2.0
// A datapath loaded once per test binary (verifying it takes a second),
// its maps emptied before every test, and helpers to run packets through
// it as one endpoint's ingress or egress.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <zeroseg/event.h>
#include <zeroseg/identity.h>

#include <memory>
#include <string>
#include <vector>

#include "loader/datapath.h"
#include "abi/port_ranges.h"
#include "loader/test_run.h"
#include "loader/transaction.h"
#include "net/packet_builder.h"
#include "privileged.h"

namespace zeroseg::test {

// The endpoint under test sits on lo: BPF_PROG_TEST_RUN needs a real
// device for the ifindex, and nothing is attached to it.
inline constexpr uint32_t kIfindex = 1;

// Which programs play the endpoint's two directions.
enum class Variant {
  xdp_host,     // host uplink: ingress by XDP, egress by tc egress
  tc_workload,  // workload veth: ingress by tc egress, egress by tc ingress
};

inline std::string variant_name(const testing::TestParamInfo<Variant>& info) {
  return info.param == Variant::xdp_host ? "xdp_host" : "tc_workload";
}

// Keeps the thread on the CPU it runs on while it lives, then gives back
// the CPUs it had: for tests of per-CPU state (the event wakeup, the deny
// cache, the verdict memo), whose packets must meet it.
class OnOneCpu {
 public:
  OnOneCpu() {
    sched_getaffinity(0, sizeof before_, &before_);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    sched_setaffinity(0, sizeof one, &one);
  }
  ~OnOneCpu() { sched_setaffinity(0, sizeof before_, &before_); }
  OnOneCpu(const OnOneCpu&) = delete;
  OnOneCpu& operator=(const OnOneCpu&) = delete;

 private:
  cpu_set_t before_;
};

struct RuleSpec {
  uint32_t subject, peer;
  uint8_t direction, proto;
  uint16_t first = 0, last = 0;  // ports; 0/0 = all
  uint32_t allow_rule = 0, deny_rule = 0;
  uint64_t expires_tai = 0;
  bool audit = false;
};

class DatapathTest : public testing::TestWithParam<Variant> {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite() { dp_.reset(); }

 protected:
  void SetUp() override;

  Datapath& dp() { return *dp_; }
  zs_attach_kind kind() const { return GetParam() == Variant::xdp_host ? ZS_ATTACH_HOST : ZS_ATTACH_WORKLOAD; }
  Program program_for(uint8_t direction) const;

  // Runs one packet as the endpoint's ingress or egress; true when passed.
  bool send(uint8_t direction, const std::vector<uint8_t>& packet);
  // As send, as if the packet crossed interface ifindex (a real device).
  bool send_on(uint32_t ifindex, uint8_t direction, const std::vector<uint8_t>& packet);
  uint32_t retval(uint8_t direction, const std::vector<uint8_t>& packet);
  // BPF_PROG_TEST_RUN refuses skbs whose IPv4/IPv6 header is cut short
  // (EINVAL), so such packets can reach only the XDP program here.
  bool testable(uint8_t direction, const std::vector<uint8_t>& packet) const;

  // Each commits a transaction of its own, or stages into tx when given
  // (a commit waits for an RCU grace period: batching keeps tests quick).
  void set_endpoint(uint32_t identity, uint8_t ingress_mode, uint8_t egress_mode, Transaction* tx = nullptr);
  void set_identity(const std::string& prefix, uint32_t identity, Transaction* tx = nullptr);
  void add_rule(const RuleSpec& r, Transaction* tx = nullptr);
  void remove_rule(const RuleSpec& r);
  uint64_t counter(uint32_t idx) { return dp_->counter(idx).packets; }
  // The event records waiting in zs_events, taken off the ring.
  std::vector<zs_event> drain_events();

  static std::unique_ptr<Datapath> dp_;
};

// An IPv4 or IPv6 header from src to dst, behind an Ethernet header
// unless with_eth is false (the bare packet an ICMP error quotes).
inline PacketBuilder ip_header(int family, const std::string& src, const std::string& dst, bool with_eth = true) {
  PacketBuilder b;
  if (with_eth) b.eth();
  if (family == 4)
    b.ipv4(src, dst);
  else
    b.ipv6(src, dst);
  return b;
}

// A table case: packets in order, each expected to pass or not.
struct Step {
  uint8_t direction;  // ZS_DIR_*, relative to the endpoint
  std::vector<uint8_t> packet;
  bool pass;
};

struct Case {
  std::string name;
  std::vector<Step> steps;
};

}  // namespace zeroseg::test
