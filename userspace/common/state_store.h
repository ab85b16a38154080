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
  // "" when the file does not exist; throws Error naming the file when it
  // exists and cannot be read (permissions, EIO): unreadable is not empty.
  std::string read(const std::string& name) const;
  // Throws Error with the old file untouched (and no temp file left).
  void write(const std::string& name, const std::string& content) const;
  void remove(const std::string& name) const;
  bool exists(const std::string& name) const;

  // Journals: records appended one by one, each fsynced before the append
  // returns, or cut off again when the append fails (ENOSPC, EIO), so a
  // failed append leaves the journal as it was.
  //
  // A record is framed "@record LEN SUM MARK\n" PAYLOAD "\n" (SUM: FNV-1a
  // of the payload; MARK: 'c' committed, 'p' pending; without MARK, as
  // before marks: committed). A pending record is written ahead of the
  // change it describes and marked committed in place once the change is
  // done (one byte, already allocated: no ENOSPC); read_records() skips
  // pending records, so a crash between the two forgets the change.
  struct Appended {
    size_t offset = 0;  // where the record starts
    size_t size = 0;    // the journal's size after it
    size_t mark = 0;    // where its MARK byte is
  };
  //
  // sync false: written, not fsynced (sync() later, or never): the record
  // survives a crash of this process (the page cache has it: every later
  // read sees it) but not one of the kernel or a power loss. For changes
  // whose source is durable elsewhere (cluster mode: etcd).
  Appended append_record(const std::string& name, const std::string& record, bool pending = false,
                         bool sync = true) const;
  // Marks a pending record committed; fsynced unless sync is false.
  void commit_record(const std::string& name, const Appended& record, bool sync = true) const;
  // Flushes what unsynced appends and marks left in the cache to disk.
  void sync(const std::string& name) const;
  // Cuts the journal back to `offset` (a pending record that will not be
  // committed). A record that cannot be cut stays pending: skipped.
  void cut(const std::string& name, size_t offset) const;

  // The committed records. A torn or corrupt record ends the journal only
  // when no whole record follows it (a crash mid-append): it is cut off, so
  // later records follow good ones. A bad record with whole records after
  // it is damage, not a crash: Error naming the file, the record's number
  // and byte offset, and nothing is cut.
  std::vector<std::string> read_records(const std::string& name) const;

 private:
  std::string dir_;
};

}  // namespace zeroseg
