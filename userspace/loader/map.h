// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace zeroseg {

// A non-owning handle on a BPF map that knows its name and sizes. Failures
// throw an Error that reads "update of map zs_policy failed: No space left
// on device".
class MapRef {
 public:
  MapRef() = default;
  // Reads the map's type and sizes from the kernel.
  MapRef(int fd, std::string name);

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  uint32_t key_size() const { return key_size_; }
  uint32_t value_size() const { return value_size_; }
  uint32_t max_entries() const { return max_entries_; }
  uint32_t type() const { return type_; }

  // false when the key is absent
  bool lookup(const void* key, void* value) const;
  void update(const void* key, const void* value, uint64_t flags = 0) const;
  // count keys and values, packed, in one BPF_MAP_UPDATE_BATCH (hash and
  // array maps have it since Linux 5.6). On failure, a prefix may be written.
  void update_batch(const void* keys, const void* values, uint32_t count) const;
  // false when the key was absent
  bool remove(const void* key) const;
  // All keys, as key_size() bytes each.
  std::vector<std::vector<uint8_t>> keys() const;
  size_t count() const;

  [[noreturn]] void fail(const char* operation, int err) const;

 private:
  int fd_ = -1;
  std::string name_;
  uint32_t type_ = 0, key_size_ = 0, value_size_ = 0, max_entries_ = 0;
};

// Walks a hash map in batches (BPF_MAP_LOOKUP_BATCH), calling
// fn(key, value) for every entry; falls back to key-by-key walking where
// batches are not supported.
void for_each_entry(const MapRef& map, const std::function<void(const void* key, const void* value)>& fn);

// A MapRef with its key and value types checked once against the kernel.
template <class Key, class Value>
class Map {
 public:
  Map() = default;
  explicit Map(MapRef ref) : ref_(std::move(ref)) {
    if (ref_.key_size() != sizeof(Key) || ref_.value_size() != sizeof(Value)) check_failed();
  }

  const MapRef& ref() const { return ref_; }

  std::optional<Value> get(const Key& key) const {
    Value value;
    if (!ref_.lookup(&key, &value)) return std::nullopt;
    return value;
  }
  void put(const Key& key, const Value& value, uint64_t flags = 0) const {
    ref_.update(&key, &value, flags);
  }
  bool erase(const Key& key) const { return ref_.remove(&key); }
  // keys[i] -> values[i] for i < count, in one system call (see
  // MapRef::update_batch)
  void put_all(const Key* keys, const Value* values, uint32_t count) const { ref_.update_batch(keys, values, count); }

  std::vector<std::pair<Key, Value>> entries() const {
    std::vector<std::pair<Key, Value>> out;
    for (const auto& raw : ref_.keys()) {
      Key key;
      std::copy(raw.begin(), raw.end(), reinterpret_cast<uint8_t*>(&key));
      if (auto value = get(key)) out.emplace_back(key, *value);
    }
    return out;
  }

 private:
  void check_failed() const;
  MapRef ref_;
};

[[noreturn]] void throw_map_layout(const MapRef& ref, size_t key_size, size_t value_size);

// Throws, before a change writes anything, when ref cannot hold `needed`
// entries: "map NAME would need N entries, its capacity is C: nothing was changed".
void check_room(const MapRef& ref, size_t needed);

template <class Key, class Value>
void Map<Key, Value>::check_failed() const {
  throw_map_layout(ref_, sizeof(Key), sizeof(Value));
}

// Sums a per-CPU array element of Value (which must support +=).
template <class Value>
Value sum_percpu(const MapRef& ref, uint32_t index, int ncpus) {
  std::vector<Value> per_cpu(ncpus);
  Value total{};
  if (!ref.lookup(&index, per_cpu.data())) return total;
  for (const auto& v : per_cpu) total += v;
  return total;
}

}  // namespace zeroseg
