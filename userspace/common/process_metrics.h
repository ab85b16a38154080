// SPDX-License-Identifier: Apache-2.0
// The process_* families every Prometheus client library exports (the Go
// and Python clients' names and meanings), read from /proc/self, and
// zeroseg_build_info.
#pragma once

#include <string>

#include "common/prom_writer.h"

namespace zeroseg {

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds. A value /proc does not give is left out.
void write_process_metrics(PromWriter& w);

// zeroseg_build_info{version,commit,...} 1
void write_build_info(PromWriter& w, const std::string& version, const std::string& commit);

}  // namespace zeroseg
