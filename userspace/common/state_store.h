// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

namespace zeroseg {

// Files in the agent's state directory, each written atomically: a temp
// file, fsync, rename over the old one, fsync of the directory. A crash
// leaves the old file or the new one, never half of either.
class StateStore {
 public:
  explicit StateStore(std::string dir);
  const std::string& dir() const { return dir_; }
  // "" when the file does not exist
  std::string read(const std::string& name) const;
  void write(const std::string& name, const std::string& content) const;

 private:
  std::string dir_;
};

}  // namespace zeroseg
