// SPDX-License-Identifier: Apache-2.0
// Where an agent and its CLI meet unless told otherwise: kept once, here.
#pragma once

namespace zeroseg {

inline constexpr const char* kDefaultSocket = "/run/zeroseg/zeroseg.sock";
inline constexpr const char* kDefaultPinDir = "/sys/fs/bpf/zeroseg";
inline constexpr const char* kDefaultStateDir = "/var/lib/zeroseg";

}  // namespace zeroseg
