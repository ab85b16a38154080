// SPDX-License-Identifier: Apache-2.0
// Owned handles: every raw fd, pointer or mapping the agent holds is one of
// these, released once, whatever path leaves the scope.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <utility>

namespace zeroseg {

// An owned file descriptor: closed once, movable, not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Forgets the descriptor without closing it (someone else closed or owns it).
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// An owned mmap: unmapped once.
class UniqueMapping {
 public:
  UniqueMapping() = default;
  UniqueMapping(void* addr, size_t len) : addr_(addr), len_(len) {}
  UniqueMapping(UniqueMapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(o.len_) {}
  UniqueMapping& operator=(UniqueMapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = o.len_;
    }
    return *this;
  }
  UniqueMapping(const UniqueMapping&) = delete;
  UniqueMapping& operator=(const UniqueMapping&) = delete;
  ~UniqueMapping() { reset(); }

  void* get() const { return addr_; }
  void reset() {
    if (addr_) ::munmap(addr_, len_);
    addr_ = nullptr;
  }

 private:
  void* addr_ = nullptr;
  size_t len_ = 0;
};

// A C library's handle freed by its own function, e.g.
// UniqueHandle<ring_buffer, ring_buffer__free> or UniqueHandle<nl_sock, nl_socket_free>.
template <auto Free>
struct CallFree {
  template <class T>
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
template <class T, auto Free>
using UniqueHandle = std::unique_ptr<T, CallFree<Free>>;

}  // namespace zeroseg
