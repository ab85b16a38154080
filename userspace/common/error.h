// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <stdexcept>
#include <string>

namespace zeroseg {

// Every failure that reaches a user is one of these: the message says what
// was being done, to what, and why it failed.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// "<what> failed: <strerror(err)>"
[[noreturn]] void throw_errno(const std::string& what, int err);

}  // namespace zeroseg
