// SPDX-License-Identifier: Apache-2.0
// The grace period of a commit's flip, by a pass over the CPUs instead of
// the kernel's synchronize_rcu().
//
// After a flip (include/zeroseg/slots.h) the retired slot may be written
// only once no program still runs that read the generation before it. The
// kernel's proof is an RCU grace period (an ARRAY_OF_MAPS update waits for
// one: Datapath::wait_for_programs), ~12 ms here under load, paid between
// two changes back to back. The readers are much shorter: tc and XDP
// programs run with bottom halves disabled (softirq, NAPI, threaded NAPI,
// dev_queue_xmit's rcu_read_lock_bh), so on a kernel that is not
// PREEMPT_RT a CPU that is running one of our threads is running no such
// program, and a program begun there after that saw the new generation. So
// once a thread of ours pinned to each online CPU has run there after the
// flip, every program that could read the retired slot has returned: RCU's
// own "quiescent state" for bottom-half readers, observed directly, in tens
// of microseconds. Not covered: BPF_PROG_TEST_RUN (it disables migration,
// not preemption); the agent's own `policy trace` runs under the lock its
// commits take, so it never spans one.
//
// Where the pass cannot prove it (PREEMPT_RT, a CPU set the process may not
// run on, a CPU that did not answer in time), pass() says so and the caller
// waits for the kernel's grace period as before.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zeroseg {

class CpuPass {
 public:
  // nullptr, and *why_not, when the pass cannot stand for a grace period here.
  static std::unique_ptr<CpuPass> create(std::string* why_not = nullptr);
  CpuPass(const CpuPass&) = delete;
  CpuPass& operator=(const CpuPass&) = delete;
  ~CpuPass();

  // True once a thread of ours has run on every online CPU since the call
  // began; false when one could not within timeout or a CPU came online
  // that has none (the caller then waits for the kernel's grace period).
  bool pass(std::chrono::milliseconds timeout = std::chrono::milliseconds(200));

  // The online CPUs, from /sys/devices/system/cpu/online ("0-3,8").
  static std::vector<int> online_cpus();

 private:
  CpuPass() = default;
  struct Worker {
    int cpu = 0;
    uint64_t done = 0;   // the last pass it answered
    bool on_cpu = true;  // it answered from its own CPU
    std::thread thread;
  };
  void run(Worker& w);

  std::mutex mu_;
  std::condition_variable go_, answered_;
  uint64_t seq_ = 0;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace zeroseg
