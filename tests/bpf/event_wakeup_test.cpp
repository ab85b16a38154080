// SPDX-License-Identifier: Apache-2.0
// The event ring wakes its reader per batch, not per record
// (bpf/lib/events.h, zs_event_wakeup): what must still hold is that no
// record waits for long or is lost. A reader blocked on the ring is woken
// by a batch long before its timeout; records below the mark reach a
// reader at its poll timeout (EventRing::read), all of them. Past the
// mark a CPU wakes the reader with its first record and then with every
// 64th (ZS_EVENTS_WAKEUP_EVERY), not with each: a reader asleep is still
// woken, and a burst behind the reader still arrives whole.
#include <bpf/libbpf.h>
#include <sched.h>
#include <zeroseg/event.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

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

// Records are 88 bytes in the ring (80 and its header): the 745th of an
// empty ring is the first at or past the 64 KiB mark.
constexpr int kRecordsToTheMark = 745;

// A reader blocked in ring_buffer__poll for up to 60 s, counting records.
class BlockedReader {
 public:
  explicit BlockedReader(const MapRef& events)
      : rb_(ring_buffer__new(
            events.fd(), [](void* ctx, void*, size_t) { return ++*static_cast<int*>(ctx), 0; }, &got_, nullptr)) {}
  ~BlockedReader() {
    if (thread_.joinable()) thread_.join();
    ring_buffer__free(rb_);
  }
  bool ok() const { return rb_ != nullptr; }
  int drain() { return ring_buffer__consume(rb_); }
  void block() {
    thread_ = std::thread([this] {
      ring_buffer__poll(rb_, 60000);
      woken_ = Clock::now();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // it blocks
  }
  // how long after `since` the reader was woken
  Clock::duration woken_after(Clock::time_point since) {
    thread_.join();
    return woken_ - since;
  }
  int got() const { return got_; }

 private:
  int got_ = 0;
  ring_buffer* rb_;
  std::thread thread_;
  Clock::time_point woken_;
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

// The CPU last wrote records past the mark (56 of them: its count is not
// a multiple of 64); the reader caught up and sleeps. The next time the
// ring passes the mark, the first record past it must wake the reader:
// the records under the mark reset the CPU's count.
TEST_P(EventWakeupTest, TheFirstRecordPastTheMarkAgainWakesTheReader) {
  OnOneCpu pinned;
  new_flows(kRecordsToTheMark + 55);  // no reader: 56 records past the mark
  BlockedReader reader(dp().map("zs_events"));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader.drain(), kRecordsToTheMark + 55);
  reader.block();
  auto sent = Clock::now();
  new_flows(kRecordsToTheMark + 5);  // 6 past the mark
  EXPECT_LT(reader.woken_after(sent), std::chrono::seconds(30)) << "the reader slept until its timeout";
  reader.drain();
  EXPECT_EQ(reader.got(), 2 * kRecordsToTheMark + 60) << "records lost";
}

// The record that passed the mark woke nobody (as when two CPUs submit
// at once and neither sees the crossing: the count is set by hand here),
// and the reader sleeps with the ring past the mark: a later record of
// the same CPU, at most 64 on, must still wake it.
TEST_P(EventWakeupTest, AMissedCrossingIsMadeUpWithinABoundedNumberOfRecords) {
  OnOneCpu pinned;
  BlockedReader reader(dp().map("zs_events"));
  ASSERT_TRUE(reader.ok());
  reader.block();
  auto sent = Clock::now();
  new_flows(kRecordsToTheMark - 1);  // under the mark: no wakeup
  uint32_t zero = 0;
  // a per-CPU value is copied 8 bytes a CPU: the __u32 count in the low half
  std::vector<uint64_t> past(libbpf_num_possible_cpus(), 1);  // "already woken"
  dp().map("zs_event_pace").update(&zero, past.data());
  new_flows(64);
  EXPECT_LT(reader.woken_after(sent), std::chrono::seconds(30)) << "the reader slept until its timeout";
  reader.drain();
  EXPECT_EQ(reader.got(), kRecordsToTheMark + 63) << "records lost";
}

// The reader far behind: 5000 records (440 KiB) wait, every one past the
// mark but the first 744; all of them arrive, none counted lost.
TEST_P(EventWakeupTest, ABurstBehindTheReaderArrivesWhole) {
  const uint64_t lost = counter(ZS_CTR_EVENTS_LOST);
  new_flows(5000);
  BlockedReader reader(dp().map("zs_events"));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader.drain(), 5000);
  EXPECT_EQ(counter(ZS_CTR_EVENTS_LOST), lost);
}

// Attack review 13: a workload that keeps every CPU's count from
// resetting (each woke the reader once past the mark, then sent nothing
// while the ring was under it) and crosses the mark again while the agent
// sleeps: none of its records wakes the reader (under 63 more on any CPU).
// What bounds their delay is the agent's own poll (Telemetry::run loops on
// EventRing::read(100)): the first read that starts after the last record
// was sent returns it (counted in reads, not time). It held.
TEST_P(EventWakeupTest, StaleCountsOnEveryCpuDelayRecordsOnlyToThePollTimeout) {
  OnOneCpu pinned;
  EventRing ring(dp().map("zs_events"));
  uint32_t zero = 0;
  std::vector<uint64_t> past(libbpf_num_possible_cpus(), 1);  // each CPU: woke once, never reset
  dp().map("zs_event_pace").update(&zero, past.data());
  const uint64_t lost = counter(ZS_CTR_EVENTS_LOST);
  const int n = kRecordsToTheMark + 30;  // 31 past the mark: no CPU's count reaches 64
  std::atomic<int> got = 0, reads = 0;
  std::thread agent([&] {
    for (int i = 0; i < 300 && got < n; i++, reads++)
      ring.read(100, [&](const zs_event& ev) { got += ev.type == ZS_EVENT_FLOW_NEW; });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the reader sleeps in its poll
  new_flows(n);
  const int reads_when_sent = reads;
  agent.join();
  EXPECT_EQ(got, n) << "records left in the ring";
  EXPECT_LE(reads - reads_when_sent, 2) << "records waited past the read that followed them";
  EXPECT_EQ(counter(ZS_CTR_EVENTS_LOST), lost);
}

INSTANTIATE_TEST_SUITE_P(Hooks, EventWakeupTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
