// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

// Tests that load BPF programs or make namespaces need root. Without it
// they skip, saying why; under ZEROSEG_REQUIRE_PRIVILEGED=1 (CI) a skip
// would hide a broken setup, so it fails instead.
#define ZS_REQUIRE_ROOT(why)                                                          \
  do {                                                                                \
    if (geteuid() != 0) {                                                             \
      const char* req = std::getenv("ZEROSEG_REQUIRE_PRIVILEGED");                    \
      if (req && std::string(req) == "1") FAIL() << "needs root, and CI requires it"; \
      GTEST_SKIP() << "needs root " << why << " (run as root, or sudo ctest)";        \
    }                                                                                 \
  } while (0)
#define ZS_REQUIRE_PRIVILEGED() ZS_REQUIRE_ROOT("to load BPF programs")
