// SPDX-License-Identifier: Apache-2.0
// The zs_events ring buffer, read through libbpf as an EventSource.
#pragma once

#include <bpf/libbpf.h>

#include <chrono>

#include "abi/kernel_flows.h"
#include "common/handles.h"
#include "loader/map.h"

namespace zeroseg {

class EventRing : public EventSource {
 public:
  // Throws Error when the ring cannot be opened. flush_prog_fd: the
  // datapath's zs_event_flush (duplicated here), which sends each CPU's
  // staged flow starts to the ring (bpf/lib/event_stage.h); -1: none.
  explicit EventRing(const MapRef& ring, int flush_prog_fd = -1);
  int read(int timeout_ms, const OnEvent& on_event) override;
  // Runs zs_event_flush on every CPU: what is staged is then in the ring.
  void flush();

 private:
  static int deliver(void* ctx, void* data, size_t size);

  const OnEvent* on_event_ = nullptr;  // during read() only
  UniqueHandle<ring_buffer, ring_buffer__free> ring_;
  UniqueFd flush_;
  int cpus_ = 0;
  std::chrono::steady_clock::time_point flushed_ = std::chrono::steady_clock::now();
};

}  // namespace zeroseg
