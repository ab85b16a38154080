// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

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
  void remove(const std::string& name) const;
  bool exists(const std::string& name) const;

  // Journals: records appended one by one, each fsynced before append
  // returns. A crash leaves a record whole or absent: read_records() drops
  // a torn or corrupt tail (and cuts it off the file, so later records
  // follow good ones). Returns the journal's size after the append.
  size_t append_record(const std::string& name, const std::string& record) const;
  std::vector<std::string> read_records(const std::string& name) const;

 private:
  std::string dir_;
};

}  // namespace zeroseg
