// SPDX-License-Identifier: Apache-2.0
#include "loader/event_ring.h"

#include <cerrno>

#include "common/error.h"

namespace zeroseg {

EventRing::EventRing(const MapRef& ring) : ring_(ring_buffer__new(ring.fd(), &EventRing::deliver, this, nullptr)) {
  if (!ring_) throw_errno("opening the event ring buffer " + ring.name(), errno);
}

int EventRing::deliver(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventRing*>(ctx);
  if (size >= sizeof(zs_event) && self->on_event_) (*self->on_event_)(*static_cast<const zs_event*>(data));
  return 0;
}

int EventRing::read(int timeout_ms, const OnEvent& on_event) {
  on_event_ = &on_event;
  int n = timeout_ms > 0 ? ring_buffer__poll(ring_.get(), timeout_ms) : ring_buffer__consume(ring_.get());
  // the kernel wakes a reader per batch (bpf/lib/events.h): a poll that
  // timed out reads what is there, so no record waits past the timeout
  if (n == 0 && timeout_ms > 0) n = ring_buffer__consume(ring_.get());
  on_event_ = nullptr;
  return n;
}

}  // namespace zeroseg
