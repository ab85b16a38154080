// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_log.h"

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include "common/error.h"

namespace zeroseg {

FlowLog::FlowLog(std::string path, uint64_t max_bytes, int keep)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep < 1 ? 1 : keep) {
  open();
}

FlowLog::~FlowLog() {
  if (file_ && file_ != stdout) fclose(file_);
  else if (file_) fflush(file_);
}

void FlowLog::open() {
  if (path_ == "-") {
    file_ = stdout;
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  file_ = fopen(path_.c_str(), "ae");
  if (!file_) throw_errno("opening the flow log " + path_, errno);
  setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  struct stat st{};
  size_ = fstat(fileno(file_), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void FlowLog::rotate() {
  fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  std::filesystem::remove(path_ + "." + std::to_string(keep_), ec);
  for (int i = keep_ - 1; i >= 1; i--)
    std::filesystem::rename(path_ + "." + std::to_string(i), path_ + "." + std::to_string(i + 1), ec);
  std::filesystem::rename(path_, path_ + ".1", ec);
  rotations_++;
  open();
}

void FlowLog::write(std::string_view lines) {
  while (!lines.empty()) {
    std::string_view chunk = lines;
    if (file_ != stdout && size_ + chunk.size() > max_bytes_) {
      // as many whole lines as fit; at least one line per file
      size_t room = max_bytes_ > size_ ? max_bytes_ - size_ : 0;
      size_t cut = chunk.rfind('\n', room ? room - 1 : 0);
      if (cut == std::string_view::npos || room == 0) {
        if (size_ > 0) {
          rotate();
          continue;
        }
        cut = chunk.find('\n');
      }
      chunk = chunk.substr(0, cut == std::string_view::npos ? chunk.size() : cut + 1);
    }
    fwrite(chunk.data(), 1, chunk.size(), file_);
    size_ += chunk.size();
    lines.remove_prefix(chunk.size());
    if (!lines.empty() && file_ != stdout) rotate();
  }
}

void FlowLog::flush() {
  if (file_) fflush(file_);
}

}  // namespace zeroseg
