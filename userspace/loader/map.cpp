// SPDX-License-Identifier: Apache-2.0
#include "loader/map.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace zeroseg {

MapRef::MapRef(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len)) fail("info", errno);
  type_ = info.type;
  key_size_ = info.key_size;
  value_size_ = info.value_size;
  max_entries_ = info.max_entries;
}

void MapRef::fail(const char* operation, int err) const {
  throw_errno(std::string(operation) + " of map " + name_, err);
}

bool MapRef::lookup(const void* key, void* value) const {
  if (bpf_map_lookup_elem(fd_, key, value) == 0) return true;
  if (errno == ENOENT) return false;
  fail("lookup", errno);
}

void MapRef::update(const void* key, const void* value, uint64_t flags) const {
  if (bpf_map_update_elem(fd_, key, value, flags)) fail("update", errno);
}

void MapRef::update_batch(const void* keys, const void* values, uint32_t count) const {
  if (count == 0) return;
  uint32_t done = count;
  if (bpf_map_update_batch(fd_, keys, values, &done, nullptr)) fail("update", errno);
}

bool MapRef::remove(const void* key) const {
  if (bpf_map_delete_elem(fd_, key) == 0) return true;
  if (errno == ENOENT) return false;
  fail("delete", errno);
}

std::vector<std::vector<uint8_t>> MapRef::keys() const {
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> key(key_size_), next(key_size_);
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd_, prev, next.data()) == 0) {
    out.push_back(next);
    key = next;
    prev = key.data();
  }
  if (errno != ENOENT) fail("iteration", errno);
  return out;
}

size_t MapRef::count() const { return keys().size(); }

void check_room(const MapRef& ref, size_t needed) {
  if (needed > ref.max_entries())
    throw Error("map " + ref.name() + " would need " + std::to_string(needed) + " entries, its capacity is " +
                std::to_string(ref.max_entries()) + ": nothing was changed");
}

void throw_map_layout(const MapRef& ref, size_t key_size, size_t value_size) {
  throw Error("map " + ref.name() + " has key/value sizes " + std::to_string(ref.key_size()) + "/" +
              std::to_string(ref.value_size()) + ", this build expects " +
              std::to_string(key_size) + "/" + std::to_string(value_size) +
              ": it was pinned by another zeroseg version (run `zeroseg bpf uninstall`)");
}

void for_each_entry(const MapRef& map, const std::function<void(const void*, const void*)>& fn) {
  constexpr uint32_t kBatch = 4096;
  std::vector<uint8_t> keys(static_cast<size_t>(kBatch) * map.key_size());
  std::vector<uint8_t> values(static_cast<size_t>(kBatch) * map.value_size());
  uint64_t in_batch = 0, out_batch = 0;
  bool first = true;
  for (;;) {
    uint32_t count = kBatch;
    int rc = bpf_map_lookup_batch(map.fd(), first ? nullptr : &in_batch, &out_batch, keys.data(), values.data(),
                                  &count, nullptr);
    int err = rc ? errno : 0;
    if (rc && err != ENOENT) {
      if (first && (err == EINVAL || err == ENOTSUP || err == EOPNOTSUPP)) break;  // walk key by key below
      map.fail("batch lookup", err);
    }
    for (uint32_t i = 0; i < count; i++)
      fn(keys.data() + static_cast<size_t>(i) * map.key_size(), values.data() + static_cast<size_t>(i) * map.value_size());
    if (err == ENOENT) return;
    in_batch = out_batch;
    first = false;
  }
  std::vector<uint8_t> value(map.value_size());
  for (const auto& key : map.keys())
    if (map.lookup(key.data(), value.data())) fn(key.data(), value.data());
}

}  // namespace zeroseg
