// SPDX-License-Identifier: Apache-2.0
// The per-CPU memos' upkeep at load (bpf/lib/verdict_memo.h,
// ipcache_memo.h, endpoint_memo.h): emptied when their generations may
// belong to another zs_config.
#include <bpf/bpf.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "loader/datapath.h"

namespace zeroseg {

namespace {

bpf_map_info map_info(const MapRef& m) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(m.fd(), &info, &len)) m.fail("reading the map's info", errno);
  return info;
}

}  // namespace

void Datapath::clear_memo(const char* name) const {
  const MapRef& memo = map(name);
  // a per-CPU value: one per possible CPU, each rounded up to 8 bytes
  std::vector<uint8_t> empty(size_t{(map_info(memo).value_size + 7u) / 8u * 8u} * static_cast<size_t>(ncpus_));
  const uint32_t key = 0;
  memo.update(&key, empty.data());
}

void Datapath::clear_memos() const {
  for (const char* name : kMemoMaps) clear_memo(name);
}

void Datapath::claim_endpoint_memo() const {
  const uint32_t key = 0, config_id = map_info(map("zs_config")).id;
  uint32_t owner = 0;
  const MapRef& stamp = map("zs_endpoint_memo_config");
  if (stamp.lookup(&key, &owner) && owner == config_id) return;
  clear_memo("zs_endpoint_memo");
  stamp.update(&key, &config_id);
}

}  // namespace zeroseg
