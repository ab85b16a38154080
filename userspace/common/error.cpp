// SPDX-License-Identifier: Apache-2.0
#include "common/error.h"

#include <cstring>

namespace zeroseg {

void throw_errno(const std::string& what, int err) {
  throw Error(what + " failed: " + std::strerror(err < 0 ? -err : err));
}

}  // namespace zeroseg
