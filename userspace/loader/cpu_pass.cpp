// SPDX-License-Identifier: Apache-2.0
#include "loader/cpu_pass.h"

#include <pthread.h>
#include <sched.h>
#include <sys/utsname.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace zeroseg {

namespace {

// PREEMPT_RT runs softirqs in preemptible threads: a CPU running our
// thread may then be in the middle of a program.
bool preempt_rt() {
  std::ifstream rt("/sys/kernel/realtime");
  int v = 0;
  if (rt >> v && v == 1) return true;
  utsname u{};
  return uname(&u) == 0 && std::strstr(u.version, "PREEMPT_RT") != nullptr;
}

bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

}  // namespace

std::vector<int> CpuPass::online_cpus() {
  std::vector<int> cpus;
  std::ifstream f("/sys/devices/system/cpu/online");
  std::string text;
  if (!std::getline(f, text)) return cpus;
  std::stringstream ranges(text);
  std::string range;
  while (std::getline(ranges, range, ',')) {
    int lo = 0, hi = 0;
    if (std::sscanf(range.c_str(), "%d-%d", &lo, &hi) == 2) {
      for (int c = lo; c <= hi; c++) cpus.push_back(c);
    } else if (std::sscanf(range.c_str(), "%d", &lo) == 1) {
      cpus.push_back(lo);
    }
  }
  return cpus;
}

std::unique_ptr<CpuPass> CpuPass::create(std::string* why_not) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<CpuPass> {
    if (why_not) *why_not = why;
    return nullptr;
  };
  if (preempt_rt()) return fail("a PREEMPT_RT kernel preempts programs");
  std::vector<int> cpus = online_cpus();
  if (cpus.empty()) return fail("/sys/devices/system/cpu/online is unreadable");
  std::unique_ptr<CpuPass> p(new CpuPass());
  for (int cpu : cpus) {
    auto w = std::make_unique<Worker>();
    w->cpu = cpu;
    try {
      w->thread = std::thread([raw = p.get(), wp = w.get()] { raw->run(*wp); });
    } catch (const std::system_error& e) {
      return fail(std::string("no thread: ") + e.what());  // p's destructor joins those started
    }
    p->workers_.push_back(std::move(w));
  }
  // the first pass also tells whether each worker could pin itself
  if (!p->pass(std::chrono::seconds(2))) return fail("a thread could not run on every online CPU (a CPU set?)");
  return p;
}

CpuPass::~CpuPass() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  go_.notify_all();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

void CpuPass::run(Worker& w) {
  const bool pinned = pin_to(w.cpu);
  // Ahead of the normal threads that keep a CPU busy, so a pass under load
  // takes microseconds, not a scheduler's time slice; unprivileged, the
  // pass is as right, only slower.
  sched_param sp{};
  sp.sched_priority = 1;
  (void)pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  std::unique_lock lock(mu_);
  while (true) {
    go_.wait(lock, [&] { return stopping_ || seq_ > w.done; });
    if (stopping_) return;
    // running here, after the pass began: no program that read the old
    // generation can still be running on this CPU
    w.on_cpu = pinned && sched_getcpu() == w.cpu;
    w.done = seq_;
    answered_.notify_all();
  }
}

bool CpuPass::pass(std::chrono::milliseconds timeout) {
  // read after the flip: a CPU online since has readers that saw it
  std::vector<int> cpus = online_cpus();
  std::unique_lock lock(mu_);
  for (int cpu : cpus) {
    bool have = false;
    for (const auto& w : workers_) have = have || w->cpu == cpu;
    if (!have) return false;
  }
  const uint64_t seq = ++seq_;
  go_.notify_all();
  bool all = answered_.wait_for(lock, timeout, [&] {
    for (const auto& w : workers_)
      if (w->done < seq) return false;
    return true;
  });
  if (!all) return false;
  for (const auto& w : workers_)
    if (!w->on_cpu) return false;
  return true;
}

}  // namespace zeroseg
