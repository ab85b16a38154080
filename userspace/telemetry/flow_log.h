// SPDX-License-Identifier: Apache-2.0
// FlowLog: JSON lines to a file that rotates by size (path, path.1, ...,
// path.N, oldest dropped), or to stdout when the path is "-". Only regular
// files rotate (a FIFO or /dev/null is written as is).
#pragma once

#include "common/handles.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace zeroseg {

class FlowLog {
 public:
  static constexpr uint64_t kDefaultMaxBytes = 100ull << 20;
  static constexpr int kDefaultKeep = 5;

  // Opens (appends to) path; throws Error naming it when it cannot.
  explicit FlowLog(std::string path, uint64_t max_bytes = kDefaultMaxBytes, int keep = kDefaultKeep);
  ~FlowLog();
  FlowLog(const FlowLog&) = delete;
  FlowLog& operator=(const FlowLog&) = delete;

  // Whole lines only, so a rotation never splits a record. Written at once
  // (the telemetry thread hands over one batch per turn): no buffering.
  void write(std::string_view lines);
  const std::string& path() const { return path_; }
  uint64_t rotations() const { return rotations_; }
  uint64_t write_errors() const { return write_errors_; }

 private:
  void open();
  void rotate();
  void write_all(std::string_view data);

  std::string path_;
  uint64_t max_bytes_;
  int keep_;
  UniqueFd fd_;  // a duplicate of stdout for "-"
  uint64_t size_ = 0;
  bool rotating_ = false;  // a regular file
  uint64_t rotations_ = 0;
  uint64_t write_errors_ = 0;
};

}  // namespace zeroseg
