// SPDX-License-Identifier: Apache-2.0
#include "common/state_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "common/error.h"
#include "common/handles.h"

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

namespace {

// "@record <length> <checksum>\n<payload>\n": the checksum (FNV-1a, 64
// bits) tells a torn or scribbled record from a whole one.
constexpr std::string_view kRecordMagic = "@record ";

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

void write_all(int fd, std::string_view data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("writing " + what, errno);
    done += static_cast<size_t>(n);
  }
}

}  // namespace

bool StateStore::exists(const std::string& name) const { return access((dir_ + "/" + name).c_str(), F_OK) == 0; }

void StateStore::remove(const std::string& name) const {
  const std::string path = dir_ + "/" + name;
  if (unlink(path.c_str()) && errno != ENOENT) throw_errno("removing " + path, errno);
  UniqueFd dirfd(open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd) fsync(dirfd.get());
}

size_t StateStore::append_record(const std::string& name, const std::string& record) const {
  const std::string path = dir_ + "/" + name;
  bool fresh = access(path.c_str(), F_OK) != 0;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) throw_errno("opening " + path, errno);
  std::string framed = std::string(kRecordMagic) + std::to_string(record.size()) + " " +
                       std::to_string(fnv1a(record)) + "\n" + record + "\n";
  write_all(fd.get(), framed, path);
  if (fsync(fd.get())) throw_errno("fsync of " + path, errno);
  if (fresh) {
    UniqueFd dirfd(open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dirfd) fsync(dirfd.get());
  }
  off_t size = lseek(fd.get(), 0, SEEK_END);
  return size < 0 ? 0 : static_cast<size_t>(size);
}

std::vector<std::string> StateStore::read_records(const std::string& name) const {
  const std::string path = dir_ + "/" + name;
  std::string text = read(name);
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos || text.compare(at, kRecordMagic.size(), kRecordMagic) != 0) break;
    std::istringstream header(text.substr(at + kRecordMagic.size(), eol - at - kRecordMagic.size()));
    size_t len = 0;
    uint64_t sum = 0;
    if (!(header >> len >> sum) || eol + 1 + len + 1 > text.size() || text[eol + 1 + len] != '\n') break;
    std::string record = text.substr(eol + 1, len);
    if (fnv1a(record) != sum) break;
    out.push_back(std::move(record));
    at = eol + 1 + len + 1;
  }
  if (at < text.size()) {  // a torn tail: cut it off
    if (truncate(path.c_str(), static_cast<off_t>(at))) throw_errno("truncating " + path, errno);
  }
  return out;
}

void StateStore::write(const std::string& name, const std::string& content) const {
  const std::string path = dir_ + "/" + name, tmp = path + ".tmp";
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) throw_errno("writing " + tmp, errno);
    write_all(fd.get(), content, tmp);
    if (fsync(fd.get())) throw_errno("fsync of " + tmp, errno);
  }
  if (rename(tmp.c_str(), path.c_str())) throw_errno("renaming " + tmp + " to " + path, errno);
  UniqueFd dirfd(open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd) fsync(dirfd.get());
}

}  // namespace zeroseg
