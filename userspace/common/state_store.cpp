// SPDX-License-Identifier: Apache-2.0
#include "common/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
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
  const std::string path = dir_ + "/" + name;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return "";
    throw_errno("reading " + path, errno);
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("reading " + path, errno);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

namespace {

// "@record <length> <checksum> <mark>\n<payload>\n": the checksum (FNV-1a,
// 64 bits) tells a torn or scribbled record from a whole one.
constexpr std::string_view kRecordMagic = "@record ";
constexpr char kPending = 'p', kCommitted = 'c';

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

void fsync_dir(const std::string& dir) {
  UniqueFd dirfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd) fsync(dirfd.get());
}

// Reads an unsigned decimal at `at`, up to `stop`.
std::optional<uint64_t> decimal(std::string_view text, size_t& at, char stop) {
  uint64_t v = 0;
  size_t start = at;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9' && at - start < 20)
    v = v * 10 + static_cast<uint64_t>(text[at++] - '0');
  if (at == start || at >= text.size() || text[at] != stop) return std::nullopt;
  at++;
  return v;
}

struct Framed {
  std::string_view payload;
  char mark;
  size_t end;  // just past the record
};

// The whole, intact record at `at`, if there is one.
std::optional<Framed> framed_at(std::string_view text, size_t at) {
  if (text.compare(at, kRecordMagic.size(), kRecordMagic) != 0) return std::nullopt;
  size_t p = at + kRecordMagic.size();
  auto len = decimal(text, p, ' ');
  if (!len) return std::nullopt;
  size_t q = p;
  auto sum = decimal(text, q, '\n');
  char mark = kCommitted;  // before marks
  if (!sum) {
    sum = decimal(text, p, ' ');
    if (!sum || p + 1 >= text.size() || (text[p] != kPending && text[p] != kCommitted) || text[p + 1] != '\n')
      return std::nullopt;
    mark = text[p];
    q = p + 2;
  }
  if (*len > text.size() || q + *len + 1 > text.size() || text[q + *len] != '\n') return std::nullopt;
  std::string_view payload = text.substr(q, *len);
  if (fnv1a(payload) != *sum) return std::nullopt;
  return Framed{payload, mark, q + *len + 1};
}

}  // namespace

bool StateStore::exists(const std::string& name) const { return access((dir_ + "/" + name).c_str(), F_OK) == 0; }

void StateStore::remove(const std::string& name) const {
  const std::string path = dir_ + "/" + name;
  if (unlink(path.c_str()) && errno != ENOENT) throw_errno("removing " + path, errno);
  fsync_dir(dir_);
}

StateStore::Appended StateStore::append_record(const std::string& name, const std::string& record, bool pending,
                                               bool sync) const {
  const std::string path = dir_ + "/" + name;
  bool fresh = access(path.c_str(), F_OK) != 0;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) throw_errno("opening " + path, errno);
  struct stat st {};
  if (fstat(fd.get(), &st)) throw_errno("stat of " + path, errno);
  std::string header = std::string(kRecordMagic) + std::to_string(record.size()) + " " +
                       std::to_string(fnv1a(record)) + " " + (pending ? kPending : kCommitted) + "\n";
  Appended a;
  a.offset = static_cast<size_t>(st.st_size);
  a.mark = a.offset + header.size() - 2;
  a.size = a.offset + header.size() + record.size() + 1;
  try {
    write_all(fd.get(), header + record + "\n", path);
    // the file's size is data to fdatasync (what a read needs); mtime is not
    if (sync && fdatasync(fd.get())) throw_errno("fsync of " + path, errno);
  } catch (...) {
    // what was written of it goes: the journal stays as it was (ENOSPC
    // leaves a part written; a failed fsync may leave it all in the cache)
    if (ftruncate(fd.get(), st.st_size) == 0) fsync(fd.get());
    throw;
  }
  if (fresh) fsync_dir(dir_);
  return a;
}

void StateStore::commit_record(const std::string& name, const Appended& record, bool sync) const {
  const std::string path = dir_ + "/" + name;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("opening " + path, errno);
  ssize_t n;
  do n = pwrite(fd.get(), &kCommitted, 1, static_cast<off_t>(record.mark));
  while (n < 0 && errno == EINTR);
  if (n != 1) throw_errno("marking a record committed in " + path, n < 0 ? errno : EIO);
  if (sync && fdatasync(fd.get())) throw_errno("fsync of " + path, errno);
}

void StateStore::sync(const std::string& name) const {
  const std::string path = dir_ + "/" + name;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return;  // compacted away: the snapshot has it, fsynced
    throw_errno("opening " + path, errno);
  }
  if (fdatasync(fd.get())) throw_errno("fsync of " + path, errno);
}

void StateStore::cut(const std::string& name, size_t offset) const {
  const std::string path = dir_ + "/" + name;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd && ftruncate(fd.get(), static_cast<off_t>(offset)) == 0) fsync(fd.get());
}

std::vector<std::string> StateStore::read_records(const std::string& name) const {
  const std::string path = dir_ + "/" + name;
  const std::string text = read(name);
  std::vector<std::string> out;
  size_t at = 0, index = 0;
  while (at < text.size()) {
    index++;
    auto r = framed_at(text, at);
    if (!r) break;
    // a pending record's change was never acknowledged: forgotten
    if (r->mark == kCommitted) out.emplace_back(r->payload);
    at = r->end;
  }
  if (at >= text.size()) return out;
  // A bad record: the torn tail of a crash mid-append has no whole record
  // after it. One that has is damage: its good followers must not be dropped.
  for (size_t next = text.find(kRecordMagic, at + 1); next != std::string::npos;
       next = text.find(kRecordMagic, next + 1))
    if (framed_at(text, next))
      throw Error(path + ": record " + std::to_string(index) + " at byte offset " + std::to_string(at) +
                  " is torn or corrupt, and whole records follow it (the next at byte offset " +
                  std::to_string(next) + "): refusing to drop them; repair or move the file aside");
  if (truncate(path.c_str(), static_cast<off_t>(at))) throw_errno("truncating " + path, errno);
  return out;
}

void StateStore::write(const std::string& name, const std::string& content) const {
  const std::string path = dir_ + "/" + name, tmp = path + ".tmp";
  try {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) throw_errno("writing " + tmp, errno);
    write_all(fd.get(), content, tmp);
    if (fsync(fd.get())) throw_errno("fsync of " + tmp, errno);
    if (rename(tmp.c_str(), path.c_str())) throw_errno("renaming " + tmp + " to " + path, errno);
  } catch (...) {
    unlink(tmp.c_str());  // its space back (ENOSPC)
    throw;
  }
  fsync_dir(dir_);
}

}  // namespace zeroseg
