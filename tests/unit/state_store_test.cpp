// SPDX-License-Identifier: Apache-2.0
// The state directory's files and journals, in a temporary directory.
#include "common/state_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace zeroseg {
namespace {

class StateStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "zs-state-store-" + std::to_string(getpid());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void append_raw(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::app) << bytes;
  }
  std::string dir_;
};

TEST_F(StateStoreTest, WritesReadsAndRemovesFiles) {
  StateStore s(dir_);
  EXPECT_EQ(s.read("a"), "");
  s.write("a", "one");
  s.write("a", "two");
  EXPECT_EQ(s.read("a"), "two");
  s.remove("a");
  s.remove("a");  // absent: fine
  EXPECT_EQ(s.read("a"), "");
}

TEST_F(StateStoreTest, RecordsComeBackInOrderWhateverTheyHold) {
  StateStore s(dir_);
  s.append_record("log", "apply\n---\nkind: X\n");
  s.append_record("log", "");
  size_t size = s.append_record("log", "@record 99 1\nnot a header\n");
  EXPECT_EQ(size, std::filesystem::file_size(dir_ + "/log"));
  auto r = s.read_records("log");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0], "apply\n---\nkind: X\n");
  EXPECT_EQ(r[1], "");
  EXPECT_EQ(r[2], "@record 99 1\nnot a header\n");
}

TEST_F(StateStoreTest, ATornOrCorruptTailIsDroppedAndCutOff) {
  StateStore s(dir_);
  s.append_record("log", "first");
  size_t good = s.append_record("log", "second");
  append_raw("log", "@record 100 12345\nhalf of a reco");  // a crash mid-append
  auto r = s.read_records("log");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1], "second");
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/log"), good);  // later records follow good ones
  s.append_record("log", "third");
  EXPECT_EQ(s.read_records("log").size(), 3u);

  // a whole-looking record whose checksum does not match ends the journal
  append_raw("log", "@record 5 42\nfifth\n");
  s.append_record("log", "sixth");  // after the bad one: unreachable
  r = s.read_records("log");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[2], "third");
}

}  // namespace
}  // namespace zeroseg
