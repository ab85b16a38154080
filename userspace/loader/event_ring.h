// SPDX-License-Identifier: Apache-2.0
// The zs_events ring buffer, read through libbpf as an EventSource.
#pragma once

#include <bpf/libbpf.h>

#include "abi/kernel_flows.h"
#include "common/handles.h"
#include "loader/map.h"

namespace zeroseg {

class EventRing : public EventSource {
 public:
  // Throws Error when the ring cannot be opened.
  explicit EventRing(const MapRef& ring);
  int read(int timeout_ms, const OnEvent& on_event) override;

 private:
  static int deliver(void* ctx, void* data, size_t size);

  const OnEvent* on_event_ = nullptr;  // during read() only
  UniqueHandle<ring_buffer, ring_buffer__free> ring_;
};

}  // namespace zeroseg
