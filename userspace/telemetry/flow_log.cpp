// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/error.h"

namespace zeroseg {

FlowLog::FlowLog(std::string path, uint64_t max_bytes, int keep)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep < 1 ? 1 : keep) {
  open();
}

FlowLog::~FlowLog() = default;

void FlowLog::open() {
  if (path_ == "-") {
    fd_ = UniqueFd(fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3));
    if (!fd_) throw_errno("the flow log on stdout", errno);
    rotating_ = false;
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  fd_ = UniqueFd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd_) throw_errno("opening the flow log " + path_, errno);
  struct stat st{};
  if (fstat(fd_.get(), &st) == 0) {
    size_ = static_cast<uint64_t>(st.st_size);
    rotating_ = S_ISREG(st.st_mode);  // never rename /dev/null or a FIFO
  }
}

void FlowLog::rotate() {
  fd_.reset();
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
    if (rotating_ && size_ + chunk.size() > max_bytes_) {
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
    write_all(chunk);
    size_ += chunk.size();
    lines.remove_prefix(chunk.size());
    if (!lines.empty() && rotating_) rotate();
  }
}

void FlowLog::write_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // a full disk must not stop enforcement or telemetry: count and go on
      write_errors_++;
      return;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace zeroseg
