// SPDX-License-Identifier: Apache-2.0
// The service manager's protocols without libsystemd: sd_notify datagrams
// to a real unix socket (a path and the abstract namespace), and the
// journald priority prefix only on the stream $JOURNAL_STREAM names.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "common/handles.h"
#include "common/log.h"
#include "common/log_journal.h"
#include "common/systemd_notify.h"

namespace zeroseg {
namespace {

// A datagram listener as the service manager has one; NAME "@x" is abstract.
class Listener {
 public:
  explicit Listener(const std::string& name) : name_(name) {
    fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    else unlink(name.c_str());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), len), 0) << std::strerror(errno);
  }
  ~Listener() {
    if (name_[0] == '/') unlink(name_.c_str());
  }
  // The next datagram, or "" when none came (nothing blocks: notify is synchronous)
  std::string next() {
    char buf[4096];
    ssize_t n = recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::string name_;
  UniqueFd fd_;
};

class SystemdNotifyTest : public testing::Test {
 protected:
  void TearDown() override {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
  }
};

TEST_F(SystemdNotifyTest, SendsToAPathSocket) {
  std::string path = testing::TempDir() + "zs-notify-" + std::to_string(getpid());
  Listener l(path);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  EXPECT_TRUE(systemd::notify("READY=1\nSTATUS=enforcing"));
  EXPECT_EQ(l.next(), "READY=1\nSTATUS=enforcing");
}

TEST_F(SystemdNotifyTest, SendsToAnAbstractSocket) {
  std::string name = "@zs-notify-test-" + std::to_string(getpid());
  Listener l(name);
  setenv("NOTIFY_SOCKET", name.c_str(), 1);
  EXPECT_TRUE(systemd::notify("STOPPING=1"));
  EXPECT_EQ(l.next(), "STOPPING=1");
  // the same name as a path is another socket: nothing may arrive here
  std::string as_path = "/" + name.substr(1);
  setenv("NOTIFY_SOCKET", as_path.c_str(), 1);
  EXPECT_FALSE(systemd::notify("READY=1"));
  EXPECT_EQ(l.next(), "");
}

TEST_F(SystemdNotifyTest, WithoutAManagerSaysSoAndSendsNothing) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(systemd::notify("READY=1"));
  setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_FALSE(systemd::notify("READY=1"));
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(systemd::notify("READY=1"));
  setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'x')).c_str(), 1);  // longer than sun_path
  EXPECT_FALSE(systemd::notify("READY=1"));
}

TEST_F(SystemdNotifyTest, WatchdogIntervalOnlyForThisProcess) {
  EXPECT_EQ(systemd::watchdog_usec(), 0u);
  setenv("WATCHDOG_USEC", "20000000", 1);
  EXPECT_EQ(systemd::watchdog_usec(), 20000000u);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(systemd::watchdog_usec(), 20000000u);
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);  // meant for another process
  EXPECT_EQ(systemd::watchdog_usec(), 0u);
  unsetenv("WATCHDOG_PID");
  setenv("WATCHDOG_USEC", "20s", 1);
  EXPECT_EQ(systemd::watchdog_usec(), 0u);
}

// Runs the logger with stderr moved to a file; JOURNAL_STREAM as given
// (MATCH: the file's own device:inode). Returns what the file got.
std::string log_with_stderr_in_file(const char* journal_stream, bool match,
                                    std::string_view only = std::string_view()) {
  std::string path = testing::TempDir() + "zs-log-" + std::to_string(getpid());
  int file = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  EXPECT_GE(file, 0);
  std::fflush(stderr);
  int saved = dup(2);
  dup2(file, 2);
  struct stat st {};
  fstat(file, &st);
  std::string env = match ? std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)
                          : (journal_stream ? journal_stream : "");
  if (match || journal_stream) setenv("JOURNAL_STREAM", env.c_str(), 1);
  else unsetenv("JOURNAL_STREAM");
  log::detect_journal();
  log::set_level(log::Level::debug);
  if (only.data()) {
    log::warn(only);
  } else {
    log::error("bad");
    log::warn("two\nlines");
    log::info("fine");
    log::debug("detail");
  }
  log::set_level(log::Level::info);
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(file);
  unsetenv("JOURNAL_STREAM");
  log::detect_journal();
  std::ifstream in(path);
  std::stringstream got;
  got << in.rdbuf();
  unlink(path.c_str());
  return got.str();
}

TEST(JournalPriority, PrefixedOnlyOnTheJournalsOwnStream) {
  EXPECT_EQ(log_with_stderr_in_file(nullptr, true),
            "<3>zeroseg: error: bad\n<4>zeroseg: warning: two\n<4>lines\n<6>zeroseg: info: fine\n"
            "<7>zeroseg: debug: detail\n");
}

// attack12: journald also ends a line at a NUL (its LINE_BREAK_NUL) and
// reads a priority at the start of the next: text a workload chose (a
// name, a label) must not log at <0> (emergency) as its own entry.
TEST(JournalPriority, ANulInAMessageCannotStartALineOfItsOwnPriority) {
  const std::string hostile("name\0<0>zeroseg: error: forged", 30);
  std::string got = log_with_stderr_in_file(nullptr, true, hostile);
  EXPECT_EQ(got, "<4>zeroseg: warning: name\n<4><0>zeroseg: error: forged\n");
  EXPECT_EQ(got.find('\0'), std::string::npos);
}

TEST(JournalPriority, NeverWhenTheVariableIsMissingOrNamesAnotherStream) {
  const std::string plain = "zeroseg: error: bad\nzeroseg: warning: two\nlines\nzeroseg: info: fine\n"
                            "zeroseg: debug: detail\n";
  EXPECT_EQ(log_with_stderr_in_file(nullptr, false), plain);
  // inherited by a child whose stderr was redirected: another inode
  EXPECT_EQ(log_with_stderr_in_file("1:1", false), plain);
  EXPECT_EQ(log_with_stderr_in_file("garbage", false), plain);
  EXPECT_EQ(log_with_stderr_in_file("", false), plain);
}

}  // namespace
}  // namespace zeroseg
