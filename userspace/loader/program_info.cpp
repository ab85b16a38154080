// SPDX-License-Identifier: Apache-2.0
#include "loader/program_info.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "common/error.h"

namespace zeroseg {

ProgramInfo program_info(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len)) throw_errno("reading program info", errno);
  return {info.id, info.name, info.verified_insns, info.xlated_prog_len, info.jited_prog_len};
}

}  // namespace zeroseg
