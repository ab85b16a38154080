// SPDX-License-Identifier: Apache-2.0
// The event ring wakes its reader per batch, not per record
// (bpf/lib/events.h, zs_event_wakeup): what must still hold is that no
// record waits for long or is lost. A reader blocked on the ring is woken
// by a batch long before its timeout; records below the mark reach a
// reader at its poll timeout (EventRing::read), all of them.
#include <bpf/libbpf.h>
#include <zeroseg/event.h>

#include <chrono>
#include <thread>

#include "datapath_fixture.h"
#include "loader/event_ring.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
using Clock = std::chrono::steady_clock;
constexpr uint8_t IN = ZS_DIR_INGRESS;
constexpr uint32_t kSelf = 300, kPeer = 400;
const std::string kSelfIp = "10.0.1.10", kPeerIp = "10.0.2.20";

class EventWakeupTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    set_identity(kPeerIp, kPeer);
    add_rule({kSelf, kPeer, IN, 6, 80, 80, 1});
    EventRing(dp().map("zs_events")).read(0, [](const zs_event&) {});
  }
  // n new allowed flows, each one flow event
  void new_flows(int n) {
    for (int i = 0; i < n; i++)
      ASSERT_TRUE(send(IN, PB().eth().ipv4(kPeerIp, kSelfIp).tcp(static_cast<uint16_t>(sport_++), 80, PB::kSyn).build()));
  }
  int sport_ = 2000;
};

TEST_P(EventWakeupTest, RecordsBelowTheMarkReachAReaderAtItsTimeout) {
  EventRing ring(dp().map("zs_events"));
  new_flows(5);
  int got = 0;
  for (int i = 0; i < 20 && got < 5; i++) ring.read(50, [&](const zs_event& ev) { got += ev.type == ZS_EVENT_FLOW_NEW; });
  EXPECT_EQ(got, 5) << "records left in the ring past the reader's timeout";
}

TEST_P(EventWakeupTest, ABatchWakesABlockedReader) {
  const MapRef& events = dp().map("zs_events");
  int got = 0;
  ring_buffer* rb = ring_buffer__new(
      events.fd(), [](void* ctx, void*, size_t) { return ++*static_cast<int*>(ctx), 0; }, &got, nullptr);
  ASSERT_NE(rb, nullptr);
  // 60 s: a reader that is not woken waits that long (its timeout)
  Clock::time_point woken;
  std::thread reader([&] {
    ring_buffer__poll(rb, 60000);
    woken = Clock::now();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the reader blocks
  auto sent = Clock::now();
  new_flows(1000);  // 1000 records of 80 bytes: past the 64 KiB mark
  reader.join();
  EXPECT_LT(woken - sent, std::chrono::seconds(30)) << "the reader slept until its timeout";
  ring_buffer__consume(rb);
  EXPECT_EQ(got, 1000) << "records lost";
  ring_buffer__free(rb);
}

INSTANTIATE_TEST_SUITE_P(Hooks, EventWakeupTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
