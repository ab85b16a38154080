// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <utility>

namespace zeroseg {

// A map (std::map, std::unordered_map, ...) that copies share until one
// of them changes it: copying costs a pointer. Reads as the map; changes
// go through operator[] or mut(), which clone it first when shared. For
// the parts of the compiled state that most applies leave as they were.
// As ChunkedMap: a shared map is never changed in place, so copies may be
// read from other threads.
template <class Map>
class CowMap {
 public:
  using key_type = typename Map::key_type;
  using mapped_type = typename Map::mapped_type;
  using value_type = typename Map::value_type;
  using const_iterator = typename Map::const_iterator;

  const_iterator begin() const { return map().begin(); }
  const_iterator end() const { return map().end(); }
  const_iterator find(const key_type& k) const { return map().find(k); }
  size_t count(const key_type& k) const { return map().count(k); }
  const mapped_type& at(const key_type& k) const { return map().at(k); }
  size_t size() const { return map().size(); }
  bool empty() const { return map().empty(); }
  const Map& map() const {
    static const Map none;
    return map_ ? *map_ : none;
  }

  Map& mut() {
    if (!map_)
      map_ = std::make_shared<Map>();
    else if (map_.use_count() > 1)
      map_ = std::make_shared<Map>(*map_);
    return *map_;
  }
  mapped_type& operator[](const key_type& k) { return mut()[k]; }

  bool operator==(const CowMap& o) const { return map_ == o.map_ || map() == o.map(); }

 private:
  std::shared_ptr<Map> map_;
};

}  // namespace zeroseg
