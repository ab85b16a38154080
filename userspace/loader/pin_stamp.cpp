// SPDX-License-Identifier: Apache-2.0
#include "loader/pin_stamp.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/error.h"
#include "common/handles.h"

namespace zeroseg {

const char* const kPinStampName = "zs_loader_stamp";

namespace {

std::string pin_path(const std::string& dir, const std::string& name) { return dir + "/" + name; }

bool program_id(int fd, uint32_t& id) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len)) return false;
  id = info.id;
  return true;
}

}  // namespace

bool pins_stamped_by_us(const std::string& pin_dir, const std::string& program_pin) {
  UniqueFd stamp(bpf_obj_get(pin_path(pin_dir, kPinStampName).c_str()));
  UniqueFd prog(bpf_obj_get(pin_path(pin_dir, program_pin).c_str()));
  if (stamp.get() < 0 || prog.get() < 0) return false;
  uint32_t key = 0, stamped = 0, pinned = 0;
  return bpf_map_lookup_elem(stamp.get(), &key, &stamped) == 0 && program_id(prog.get(), pinned) &&
         stamped == pinned;
}

void stamp_pins(const std::string& pin_dir, int program_fd) {
  const std::string path = pin_path(pin_dir, kPinStampName);
  UniqueFd stamp(bpf_obj_get(path.c_str()));
  if (stamp.get() < 0) {
    stamp = UniqueFd(bpf_map_create(BPF_MAP_TYPE_ARRAY, kPinStampName, sizeof(uint32_t), sizeof(uint32_t), 1, nullptr));
    if (stamp.get() < 0) throw_errno("creating the pins' stamp " + path, errno);
    if (bpf_obj_pin(stamp.get(), path.c_str())) throw_errno("pinning " + path, errno);
  }
  uint32_t key = 0, id = 0;
  if (!program_id(program_fd, id)) throw_errno("reading the id of the program pinned under " + pin_dir, errno);
  if (bpf_map_update_elem(stamp.get(), &key, &id, BPF_ANY)) throw_errno("writing " + path, errno);
}

}  // namespace zeroseg
