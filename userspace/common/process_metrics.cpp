// SPDX-License-Identifier: Apache-2.0
#include "common/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

namespace zeroseg {
namespace {

// /proc/self/stat's fields after the command (which may hold spaces and
// parentheses: cut at the last ')'), numbered as proc(5) numbers them
// from 3 (state).
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  std::vector<std::string> f;
  if (close == std::string::npos) return f;
  std::istringstream rest(text.substr(close + 1));
  for (std::string x; rest >> x;) f.push_back(x);
  return f;
}

// the boot time, seconds since the epoch (/proc/stat's btime); 0 if unknown
double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  return 0;
}

}  // namespace

void write_process_metrics(PromWriter& w) {
  auto f = stat_fields();  // f[0] is field 3 (state)
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (f.size() > 21 && ticks > 0) {
    double utime = std::stod(f[14 - 3]), stime = std::stod(f[15 - 3]);
    w.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    w.sample("process_cpu_seconds_total", (utime + stime) / ticks);
    w.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    w.sample("process_virtual_memory_bytes", std::stod(f[23 - 3]));
    w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    w.sample("process_resident_memory_bytes", std::stod(f[24 - 3]) * page);
    if (double boot = boot_time()) {
      w.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
      // whole seconds: prom_number's 9 significant digits would round a
      // fraction of today's 10-digit times to tens of seconds
      w.sample("process_start_time_seconds", std::floor(boot + std::stod(f[22 - 3]) / ticks));
    }
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    size_t n = 0;
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') n++;
    closedir(d);
    w.family("process_open_fds", "gauge", "Number of open file descriptors.");
    w.sample("process_open_fds", static_cast<double>(n > 0 ? n - 1 : 0));  // less the directory's own
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    w.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    w.sample("process_max_fds", static_cast<double>(lim.rlim_cur));
  }
}

void write_build_info(PromWriter& w, const std::string& version, const std::string& commit) {
  w.family("zeroseg_build_info", "gauge", "1, labelled with the version and commit this agent was built from.");
  w.sample("zeroseg_build_info", {{"version", version}, {"commit", commit}, {"compiler", __VERSION__}}, 1);
}

}  // namespace zeroseg
