// SPDX-License-Identifier: Apache-2.0
// The state directory's files and journals, in a temporary directory.
#include "common/state_store.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <functional>

#include "common/error.h"

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
  size_t size = s.append_record("log", "@record 99 1\nnot a header\n").size;
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
  size_t good = s.append_record("log", "second").size;
  append_raw("log", "@record 100 12345\nhalf of a reco");  // a crash mid-append
  auto r = s.read_records("log");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1], "second");
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/log"), good);  // later records follow good ones
  s.append_record("log", "third");
  EXPECT_EQ(s.read_records("log").size(), 3u);
  // the last record whole in length but scribbled (sectors not written): the tail too
  good = std::filesystem::file_size(dir_ + "/log");
  append_raw("log", "@record 5 42 c\nfifth\n");
  EXPECT_EQ(s.read_records("log").size(), 3u);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/log"), good);
}

TEST_F(StateStoreTest, ACorruptRecordInTheMiddleStopsTheReadNamingFileAndOffset) {
  StateStore s(dir_);
  s.append_record("log", "first");
  size_t bad = s.append_record("log", "second").size;
  append_raw("log", "@record 5 42\nfifth\n");  // whole-looking, wrong checksum
  s.append_record("log", "sixth");             // a good record after the bad one
  size_t size = std::filesystem::file_size(dir_ + "/log");
  try {
    s.read_records("log");
    FAIL() << "a corrupt record with good ones after it was accepted";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(dir_ + "/log"), std::string::npos) << m;
    EXPECT_NE(m.find("record 3 at byte offset " + std::to_string(bad)), std::string::npos) << m;
  }
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/log"), size);  // nothing cut

  // a torn header in the middle, the same
  std::filesystem::remove(dir_ + "/log");
  s.append_record("log", "first");
  append_raw("log", "@record 1");
  s.append_record("log", "third");
  EXPECT_THROW(s.read_records("log"), Error);
}

TEST_F(StateStoreTest, PendingRecordsAreSkippedUntilCommitted) {
  StateStore s(dir_);
  s.append_record("log", "one");
  auto two = s.append_record("log", "two", true);
  EXPECT_EQ(s.read_records("log"), std::vector<std::string>{"one"});  // a crash before the commit: forgotten
  s.commit_record("log", two);
  EXPECT_EQ(s.read_records("log"), (std::vector<std::string>{"one", "two"}));
  auto three = s.append_record("log", "three", true);
  s.cut("log", three.offset);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/log"), two.size);
  // a pending record that could not be cut, with records after it: skipped
  s.append_record("log", "four", true);
  s.append_record("log", "five");
  EXPECT_EQ(s.read_records("log"), (std::vector<std::string>{"one", "two", "five"}));
}

TEST_F(StateStoreTest, RecordsWithoutMarksAreCommitted) {  // journals written before marks
  StateStore s(dir_);
  append_raw("log", "@record 3 " + std::to_string(0xcbf29ce484222325ULL) + "\nabc\n");
  EXPECT_TRUE(s.read_records("log").empty());  // wrong sum for "abc": torn tail, cut
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : std::string("abc")) h = (h ^ c) * 0x100000001b3ULL;
  append_raw("log", "@record 3 " + std::to_string(h) + "\nabc\n");
  EXPECT_EQ(s.read_records("log"), std::vector<std::string>{"abc"});
}

// A full disk, without root: RLIMIT_FSIZE makes writes past it fail (EFBIG)
// after writing what fits, as ENOSPC does.
class FullDisk {
 public:
  explicit FullDisk(rlim_t bytes) {
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old_);
    rlimit r = old_;
    r.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &r);
  }
  ~FullDisk() { setrlimit(RLIMIT_FSIZE, &old_); }

 private:
  rlimit old_{};
};

TEST_F(StateStoreTest, AFailedAppendLeavesTheJournalAsItWas) {
  StateStore s(dir_);
  size_t size = s.append_record("log", "one").size;
  {
    FullDisk full(size + 20);  // room for a part of the next record
    EXPECT_THROW(s.append_record("log", std::string(100, 'x'), true), Error);
  }
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/log"), size);
  EXPECT_EQ(s.read_records("log"), std::vector<std::string>{"one"});
  s.append_record("log", "two");  // space again: the next append follows the good records
  EXPECT_EQ(s.read_records("log"), (std::vector<std::string>{"one", "two"}));
}

TEST_F(StateStoreTest, AFailedWriteKeepsTheOldFileAndNoTemporary) {
  StateStore s(dir_);
  s.write("a", "old");
  {
    FullDisk full(10);
    EXPECT_THROW(s.write("a", std::string(100, 'x')), Error);
  }
  EXPECT_EQ(s.read("a"), "old");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/a.tmp"));
}

TEST_F(StateStoreTest, AnUnreadableFileIsAnErrorNotEmpty) {
  StateStore s(dir_);
  std::filesystem::create_directory(dir_ + "/desired.yaml");  // reads fail (EISDIR), even for root
  try {
    s.read("desired.yaml");
    FAIL() << "an unreadable file read as empty";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/desired.yaml"), std::string::npos) << e.what();
  }
  EXPECT_THROW(s.read_records("desired.yaml"), Error);
  EXPECT_EQ(s.read("absent"), "");  // absent is empty
}

// Cluster mode journals without fsync (StateFiles::begin, durable false):
// a record must then survive the agent's death at any step exactly as a
// synced one does (the page cache holds it), and a pending one still be
// forgotten. The writer is a child killed with SIGKILL after step k.
TEST_F(StateStoreTest, AWriterKilledBetweenAnyTwoStepsLeavesExactlyItsCommittedRecords) {
  struct Step {
    std::function<void(StateStore&, std::vector<StateStore::Appended>&)> run;
    std::vector<std::string> committed;  // what a read must return after it
  };
  auto lazy_begin = [](const char* r) {
    return [r](StateStore& s, std::vector<StateStore::Appended>& p) { p.push_back(s.append_record("log", r, true, false)); };
  };
  auto lazy_commit = [](StateStore& s, std::vector<StateStore::Appended>& p) { s.commit_record("log", p.back(), false); };
  std::vector<Step> steps = {
      {lazy_begin("one"), {}},
      {lazy_commit, {"one"}},
      {[](StateStore& s, auto& p) { p.push_back(s.append_record("log", "two", true)); }, {"one"}},  // synced, as before
      {[](StateStore& s, auto& p) { s.commit_record("log", p.back()); }, {"one", "two"}},
      {lazy_begin("three"), {"one", "two"}},
      {lazy_commit, {"one", "two", "three"}},
      {lazy_begin("four"), {"one", "two", "three"}},  // killed here: four was never acknowledged
      {[](StateStore& s, auto&) { s.sync("log"); }, {"one", "two", "three"}},
  };
  for (size_t kill_after = 0; kill_after <= steps.size(); kill_after++) {
    std::filesystem::remove_all(dir_);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      StateStore s(dir_);
      std::vector<StateStore::Appended> pending;
      for (size_t i = 0; i < kill_after && i < steps.size(); i++) steps[i].run(s, pending);
      raise(SIGKILL);
      _exit(1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer was not killed";
    StateStore s(dir_);
    std::vector<std::string> want = kill_after ? steps[std::min(kill_after, steps.size()) - 1].committed
                                               : std::vector<std::string>{};
    EXPECT_EQ(s.read_records("log"), want) << "killed after step " << kill_after;
    // and the journal goes on from there
    s.append_record("log", "next", true, false);
    EXPECT_EQ(s.read_records("log"), want) << "a pending record after the restart is skipped too";
  }
}

// A power loss can leave any prefix of what was never fsynced: a journal
// cut at any byte reads as the committed records wholly before the cut,
// the torn rest cut off; never an error (no whole record follows a cut).
TEST_F(StateStoreTest, AJournalCutAtAnyByteReadsAsThePrefixOfItsWholeRecords) {
  {
    StateStore s(dir_);
    auto a = s.append_record("log", "apply\n---\nalpha\n", true, false);
    s.commit_record("log", a, false);
    s.append_record("log", "pending, never committed", true, false);
    auto b = s.append_record("log", "delete\n---\nbeta\n", true, false);
    s.commit_record("log", b, false);
    s.append_record("log", "gamma", false, false);
  }
  std::ifstream in(dir_ + "/log", std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  {
    StateStore s(dir_);
    std::vector<std::string> all = s.read_records("log");
    ASSERT_EQ(all, (std::vector<std::string>{"apply\n---\nalpha\n", "delete\n---\nbeta\n", "gamma"}));
  }
  for (size_t cut = 0; cut <= whole.size(); cut++) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/log", std::ios::binary) << whole.substr(0, cut);
    StateStore s(dir_);
    std::vector<std::string> got;
    ASSERT_NO_THROW(got = s.read_records("log")) << "cut at byte " << cut;
    // what a read of the whole journal cut at the same record boundary returns
    std::vector<std::string> want;
    for (const char* r : {"apply\n---\nalpha\n", "delete\n---\nbeta\n", "gamma"}) {
      size_t at = whole.find(std::string("\n") + r + "\n");
      if (at != std::string::npos && at + std::strlen(r) + 2 <= cut) want.push_back(r);
    }
    EXPECT_EQ(got, want) << "cut at byte " << cut;
    EXPECT_LE(std::filesystem::file_size(dir_ + "/log"), cut);
  }
}

}  // namespace
}  // namespace zeroseg
