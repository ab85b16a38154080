// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>

namespace zeroseg {

// What the kernel says of a loaded program.
struct ProgramInfo {
  uint32_t id = 0;
  std::string name;
  uint32_t verified_insns = 0;  // instructions the verifier processed
  uint32_t xlated_bytes = 0;
  uint32_t jited_bytes = 0;
};

ProgramInfo program_info(int prog_fd);

}  // namespace zeroseg
