// SPDX-License-Identifier: Apache-2.0
#include "common/state_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bpf/fd.h"
#include "common/error.h"

namespace zeroseg {

StateStore::StateStore(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw Error("creating state directory " + dir_ + " failed: " + ec.message());
}

std::string StateStore::read(const std::string& name) const {
  std::ifstream in(dir_ + "/" + name);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void StateStore::write(const std::string& name, const std::string& content) const {
  const std::string path = dir_ + "/" + name, tmp = path + ".tmp";
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) throw_errno("writing " + tmp, errno);
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("writing " + tmp, errno);
      done += static_cast<size_t>(n);
    }
    if (fsync(fd.get())) throw_errno("fsync of " + tmp, errno);
  }
  if (rename(tmp.c_str(), path.c_str())) throw_errno("renaming " + tmp + " to " + path, errno);
  UniqueFd dirfd(open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd) fsync(dirfd.get());
}

}  // namespace zeroseg
