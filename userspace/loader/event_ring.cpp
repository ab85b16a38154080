// SPDX-License-Identifier: Apache-2.0
#include "loader/event_ring.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"

namespace zeroseg {

EventRing::EventRing(const MapRef& ring, int flush_prog_fd)
    : ring_(ring_buffer__new(ring.fd(), &EventRing::deliver, this, nullptr)) {
  if (!ring_) throw_errno("opening the event ring buffer " + ring.name(), errno);
  if (flush_prog_fd >= 0) {
    flush_ = UniqueFd(fcntl(flush_prog_fd, F_DUPFD_CLOEXEC, 3));
    if (flush_.get() < 0) throw_errno("duplicating the event flush program", errno);
    cpus_ = libbpf_num_possible_cpus();
    if (cpus_ <= 0) throw_errno("counting the possible CPUs", -cpus_);
  }
}

// A ring record holds one zs_event or, from a CPU's stage, several back to
// back (bpf/lib/event_stage.h).
int EventRing::deliver(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventRing*>(ctx);
  if (!self->on_event_) return 0;
  for (size_t at = 0; at + sizeof(zs_event) <= size; at += sizeof(zs_event))
    (*self->on_event_)(*reinterpret_cast<const zs_event*>(static_cast<const char*>(data) + at));
  return 0;
}

void EventRing::flush() {
  flushed_ = std::chrono::steady_clock::now();
  for (int cpu = 0; cpu < cpus_; cpu++) {
    // 1: a packet of that CPU was writing its stage when the IPI landed;
    // it is done long before the next try. An offline CPU fails (ENXIO):
    // its stage was flushed before it went (or holds nothing).
    for (int tries = 0; tries < 100; tries++) {
      LIBBPF_OPTS(bpf_test_run_opts, opts, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = static_cast<uint32_t>(cpu));
      if (bpf_prog_test_run_opts(flush_.get(), &opts) || opts.retval != 1) break;
    }
  }
}

int EventRing::read(int timeout_ms, const OnEvent& on_event) {
  on_event_ = &on_event;
  int n = timeout_ms > 0 ? ring_buffer__poll(ring_.get(), timeout_ms) : 0;
  // the kernel wakes a reader per batch (bpf/lib/events.h) and stages flow
  // starts per CPU (event_stage.h): a poll that timed out, a read that does
  // not wait, and any read a timeout after the last flush send the stages
  // out and read what is there, so no record waits past the timeout
  bool due = timeout_ms <= 0 || n == 0 ||
             std::chrono::steady_clock::now() - flushed_ >= std::chrono::milliseconds(timeout_ms);
  if (due && flush_.get() >= 0) flush();
  if (n >= 0 && (due || timeout_ms <= 0)) {
    int more = ring_buffer__consume(ring_.get());
    n = more < 0 ? more : n + more;
  }
  on_event_ = nullptr;
  return n;
}

}  // namespace zeroseg
