// SPDX-License-Identifier: Apache-2.0
// The pass over the CPUs that stands for a flip's grace period
// (loader/cpu_pass.h): it must not end while a reader that cannot be
// preempted still runs on any CPU, however many changes are waiting.
#include "loader/cpu_pass.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "privileged.h"

namespace zeroseg {
namespace {

using Clock = std::chrono::steady_clock;

TEST(CpuPass, AnswersFromEveryOnlineCpu) {
  ASSERT_FALSE(CpuPass::online_cpus().empty());
  std::string why;
  auto pass = CpuPass::create(&why);
  ASSERT_TRUE(pass) << "no pass over the CPUs on this kernel: " << why;
  for (int i = 0; i < 200; i++) ASSERT_TRUE(pass->pass()) << "pass " << i;
}

// A tc or XDP program runs with bottom halves disabled: nothing of ours
// can run on its CPU until it returns. A SCHED_FIFO 99 thread spinning on
// one CPU is the same to the pass's threads (SCHED_FIFO 1), so it stands
// for a program that read the old generation and still reads the retired
// slot, across a burst of changes: not one of their passes may end before
// it does.
TEST(CpuPass, NoPassEndsWhileAReaderStillHoldsTheOldSnapshot) {
  ZS_REQUIRE_ROOT("to run a SCHED_FIFO reader");
  auto cpus = CpuPass::online_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs: the reader takes one whole";
  std::string why;
  auto pass = CpuPass::create(&why);
  ASSERT_TRUE(pass) << why;

  const int reader_cpu = cpus.back();
  std::atomic<bool> started{false}, finished{false}, rt_ok{true};
  std::thread reader([&] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(reader_cpu, &set);
    sched_param sp{};
    sp.sched_priority = 99;
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) ||
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp)) {
      rt_ok = false;
      started = true;
      return;
    }
    started = true;
    auto until = Clock::now() + std::chrono::milliseconds(150);
    while (Clock::now() < until) {
    }  // reading the retired slot, never yielding
    finished = true;
  });
  while (!started) std::this_thread::yield();
  if (!rt_ok) {
    reader.join();
    FAIL() << "could not run a SCHED_FIFO reader pinned to CPU " << reader_cpu;
  }
  // a burst: five changes, each waiting for the last one's period
  for (int change = 0; change < 5; change++) {
    bool passed = pass->pass(std::chrono::seconds(5));
    ASSERT_TRUE(passed) << "change " << change;
    EXPECT_TRUE(finished.load()) << "change " << change << "'s pass ended while the reader still ran";
  }
  reader.join();
}

TEST(CpuPass, ATimeoutIsNoProof) {
  ZS_REQUIRE_ROOT("to run a SCHED_FIFO reader");
  auto cpus = CpuPass::online_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs: the reader takes one whole";
  auto pass = CpuPass::create();
  ASSERT_TRUE(pass);
  std::atomic<bool> started{false};
  std::thread reader([&] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus.back(), &set);
    sched_param sp{};
    sp.sched_priority = 99;
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    started = true;
    auto until = Clock::now() + std::chrono::milliseconds(100);
    while (Clock::now() < until) {
    }
  });
  while (!started) std::this_thread::yield();
  EXPECT_FALSE(pass->pass(std::chrono::milliseconds(5)));  // the caller then waits for the kernel's
  reader.join();
  EXPECT_TRUE(pass->pass(std::chrono::seconds(5)));
}

}  // namespace
}  // namespace zeroseg
