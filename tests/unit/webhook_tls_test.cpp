// SPDX-License-Identifier: Apache-2.0
// The alert webhook against a real TLS server: Python's http.server
// wrapped in ssl (tests/e2e/webhook_receiver.py), with certificates that
// openssl makes for the test. Skips when openssl or python3 is missing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "detect/webhook.h"

namespace zeroseg {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// A CA, a server certificate it signed for 127.0.0.1, and a second CA that
// signed nothing of the server's.
class WebhookTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!run("command -v openssl") || !run("command -v python3")) GTEST_SKIP() << "needs openssl and python3";
    dir_ = fs::temp_directory_path() / ("zs-webhook-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::string d = dir_.string();
    ASSERT_TRUE(run("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=zs-test-ca"));
    ASSERT_TRUE(run("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=zs-other-ca"));
    ASSERT_TRUE(run("cd " + d + " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1"));
    std::ofstream(dir_ / "ext.cnf") << "subjectAltName=IP:127.0.0.1\n";
    ASSERT_TRUE(run("cd " + d + " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf"));
  }
  void TearDown() override {
    stop_receiver();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // Starts the receiver; returns its URL.
  std::string start_receiver(int fail_first = 0) {
    fs::remove(dir_ / "port");
    pid_ = fork();
    if (pid_ == 0) {
      std::string ff = std::to_string(fail_first);
      std::string script = std::string(ZEROSEG_SOURCE_DIR) + "/tests/e2e/webhook_receiver.py";
      execlp("python3", "python3", script.c_str(), "0", (dir_ / "got.json").c_str(), "--tls",
             (dir_ / "server.pem").c_str(), (dir_ / "server.key").c_str(), "--fail-first", ff.c_str(), "--port-file",
             (dir_ / "port").c_str(), "--headers-out", (dir_ / "headers.txt").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 300 && !fs::exists(dir_ / "port"); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(fs::exists(dir_ / "port")) << "the receiver did not come up";
    return "https://127.0.0.1:" + slurp(dir_ / "port") + "/alerts";
  }
  void stop_receiver() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  // Waits until the sink settled one alert (sent or failed).
  static void settle(const WebhookSink& hook) {
    for (int i = 0; i < 600 && hook.counts().sent + hook.counts().failed == 0; i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fs::path dir_;
  pid_t pid_ = -1;
};

TEST_F(WebhookTls, PostsOverHttpsCheckedByTheCaWithTheHeader) {
  std::string url = start_receiver();
  testing::internal::CaptureStderr();
  {
    WebhookSink hook(url, {.ca_file = (dir_ / "ca.pem").string(), .auth_header = "Authorization: Bearer s3cret-token"});
    hook.send("{\"detector\":\"port-scan\"}\n");
    settle(hook);
    EXPECT_EQ(hook.counts().sent, 1u);
    EXPECT_EQ(hook.counts().failed, 0u);
  }
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(slurp(dir_ / "got.json"), "{\"detector\":\"port-scan\"}\n");
  EXPECT_EQ(slurp(dir_ / "headers.txt"), "Bearer s3cret-token\n");
  EXPECT_EQ(log.find("s3cret"), std::string::npos) << log;
}

// A server the CA file does not vouch for gets nothing: not the alert,
// not the header; the failure is logged without the header.
TEST_F(WebhookTls, RefusesAServerTheCaDidNotSign) {
  std::string url = start_receiver();
  testing::internal::CaptureStderr();
  {
    WebhookSink hook(url, {.ca_file = (dir_ / "other.pem").string(), .auth_header = "Authorization: Bearer s3cret-token",
                           .retries = 1, .backoff_ms = 10});
    hook.send("{\"detector\":\"port-scan\"}\n");
    settle(hook);
    EXPECT_EQ(hook.counts().sent, 0u);
    EXPECT_EQ(hook.counts().failed, 1u);
  }
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(fs::exists(dir_ / "got.json"));
  EXPECT_FALSE(fs::exists(dir_ / "headers.txt"));
  EXPECT_NE(log.find("alert webhook"), std::string::npos) << log;
  EXPECT_EQ(log.find("s3cret"), std::string::npos) << log;
}

// A receiver that answers 503 twice gets the alert on the third try.
TEST_F(WebhookTls, RetriesWithBackoffUntilDelivered) {
  std::string url = start_receiver(2);
  WebhookSink hook(url, {.ca_file = (dir_ / "ca.pem").string(), .retries = 3, .backoff_ms = 50});
  auto t0 = std::chrono::steady_clock::now();
  hook.send("{\"detector\":\"host-sweep\"}\n");
  settle(hook);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(hook.counts().sent, 1u);
  EXPECT_EQ(hook.counts().retries, 2u);
  EXPECT_EQ(hook.counts().failed, 0u);
  EXPECT_GE(waited, std::chrono::milliseconds(150));  // backed off 50 + 100 ms at least (a lower bound only)
  EXPECT_EQ(slurp(dir_ / "got.json"), "{\"detector\":\"host-sweep\"}\n");
}

// Out of retries: failed, once.
TEST_F(WebhookTls, GivesUpAfterItsRetries) {
  std::string url = start_receiver(5);
  WebhookSink hook(url, {.ca_file = (dir_ / "ca.pem").string(), .retries = 2, .backoff_ms = 10});
  hook.send("{}\n");
  settle(hook);
  EXPECT_EQ(hook.counts().failed, 1u);
  EXPECT_EQ(hook.counts().retries, 2u);
  EXPECT_EQ(hook.counts().sent, 0u);
}

TEST(WebhookAuth, FromTheEnvironmentOverTheFileAndRefusedWhenMalformed) {
  fs::path f = fs::temp_directory_path() / ("zs-auth-" + std::to_string(getpid()));
  std::ofstream(f) << "X-Api-Key: from-file\n";
  unsetenv("ZEROSEG_ALERT_WEBHOOK_AUTH");
  EXPECT_EQ(webhook_auth_header(f.string()), "X-Api-Key: from-file");
  EXPECT_EQ(webhook_auth_header(""), "");
  setenv("ZEROSEG_ALERT_WEBHOOK_AUTH", "Authorization: Bearer from-env", 1);
  EXPECT_EQ(webhook_auth_header(f.string()), "Authorization: Bearer from-env");
  setenv("ZEROSEG_ALERT_WEBHOOK_AUTH", "just-a-token", 1);
  try {
    webhook_auth_header("");
    ADD_FAILURE() << "a value without a header name was taken";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("just-a-token"), std::string::npos) << e.what();  // never the secret
  }
  unsetenv("ZEROSEG_ALERT_WEBHOOK_AUTH");
  std::ofstream(f) << "secret-without-name\n";
  EXPECT_THROW(webhook_auth_header(f.string()), Error);
  EXPECT_THROW(webhook_auth_header("/nonexistent/auth"), Error);
  fs::remove(f);
}

// attack12: a webhook's URL is often its secret (Slack's, Teams', a
// token in the query): a failed delivery names the receiver by scheme,
// host and port only, never its path.
TEST(WebhookAuth, AFailureIsLoggedWithoutTheUrlsPathOrQuery) {
  testing::internal::CaptureStderr();
  {
    // port 1 on loopback: nothing listens, the connection is refused at once
    WebhookSink hook("http://127.0.0.1:1/services/T0/B0/s3cretPath?token=s3cretQuery", {.retries = 0});
    hook.send("{}\n");
    for (int i = 0; i < 600 && hook.counts().failed == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(hook.counts().failed, 1u);
  }
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("alert webhook http://127.0.0.1:1"), std::string::npos) << log;
  EXPECT_EQ(log.find("s3cret"), std::string::npos) << log;
}

}  // namespace
}  // namespace zeroseg
