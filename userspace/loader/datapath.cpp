// SPDX-License-Identifier: Apache-2.0
#include "loader/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "loader/event_ring.h"
#include "loader/libbpf_log.h"
#include "loader/pin_stamp.h"
#include "loader/slot_access.h"
#include "zeroseg.skel.h"
#include <zeroseg/policy_forms.h>

namespace zeroseg {
namespace fs = std::filesystem;

namespace {

// The first `bytes` of a BPF_F_MMAPABLE array map, mapped shared and
// writable: the agent then writes settings and filter bits with plain
// stores the programs read at once, no syscall per change.
UniqueMapping map_shared(const MapRef& ref, size_t bytes) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t len = (bytes + page - 1) / page * page;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, ref.fd(), 0);
  if (p == MAP_FAILED) ref.fail("mmap", errno);
  return UniqueMapping(p, len);
}

constexpr Program kPrograms[] = {Program::xdp_ingress, Program::tc_ingress, Program::tc_egress, Program::tc_trace};

// Maps earlier versions pinned, removed on load and on unpin (no program
// of this version uses them; an older one still attached keeps its own
// reference): zs_conntrack became zs_conntrack4 and zs_conntrack6;
// zs_ipcache_filter (a bit per whole key) became zs_ipcache_blocks (a bit
// per block, ipcache.h). Left pinned, zs_ipcache_filter would be trusted
// by a rollback to a version that has it but no pin stamp (pin_stamp.h,
// which makes later versions distrust it), though this version's keys set
// no bit in it: their probes skipped, their addresses taken for world.
// zs_deny_known (tags alone) became zs_deny_known_sources (a tag and a
// held count), which became zs_deny_sources (the address whole, a held
// count and a hold, bpf/lib/deny_sources.h): hints, nothing to carry over.
// zs_untracked0 and zs_untracked1 (a trie per slot, builds of one day
// only) became zs_untracked (the slot in the key, untracked.h).
constexpr const char* kRetiredMaps[] = {"zs_conntrack",  "zs_ipcache_filter", "zs_deny_known",
                                        "zs_deny_known_sources", "zs_untracked0", "zs_untracked1"};

// Before its pin goes: every bit of the pinned zs_ipcache_filter set. The
// programs of the version before may still be attached (until this
// version's replace them, interface by interface) and read it; nothing
// marks it any more, so with a bit clear they would skip the probe of a
// key this version writes, and take its addresses for world.
void open_retired_ipcache_filter(const std::string& path) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (fd.get() < 0 || bpf_obj_get_info_by_fd(fd.get(), &info, &len) || info.value_size != sizeof(uint64_t))
    return;
  const size_t bytes = size_t{info.max_entries} * sizeof(uint64_t);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p != MAP_FAILED) {
    std::memset(p, 0xff, bytes);
    munmap(p, bytes);
    return;
  }
  const uint64_t all = ~uint64_t{0};  // (not mmapable: word by word)
  for (uint32_t i = 0; i < info.max_entries; i++) bpf_map_update_elem(fd.get(), &i, &all, BPF_ANY);
}

struct SkeletonDeleter {
  void operator()(zeroseg_bpf* s) const { zeroseg_bpf__destroy(s); }
};
using Skeleton = std::unique_ptr<zeroseg_bpf, SkeletonDeleter>;

bool on_bpffs(const fs::path& path) {
  fs::path p = path;
  while (!p.empty() && !fs::exists(p)) p = p.parent_path();
  struct statfs st {};
  return statfs(p.empty() ? "/" : p.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// The pin directory must be on a bpffs; /sys/fs/bpf is mounted if missing.
void ensure_pin_dir(const std::string& pin_dir) {
  if (!on_bpffs(pin_dir) && pin_dir.starts_with("/sys/fs/bpf")) {
    if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") && errno != EBUSY)
      throw_errno("mounting a BPF filesystem on /sys/fs/bpf", errno);
    log::info("mounted a BPF filesystem on /sys/fs/bpf");
  }
  if (!on_bpffs(pin_dir))
    throw Error("pin directory " + pin_dir +
                " is not on a BPF filesystem: mount one with `mount -t bpf bpf DIR`");
  std::error_code ec;
  fs::create_directories(pin_dir, ec);
  if (ec) throw Error("creating pin directory " + pin_dir + " failed: " + ec.message());
}

int dup_fd(int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throw_errno("dup of a BPF fd", errno);
  return copy;
}

// Names of every map of the datapath object, read from its ELF.
std::vector<std::string> map_names() {
  Skeleton skel(zeroseg_bpf__open());
  if (!skel) throw_errno("opening the embedded BPF object", errno);
  std::vector<std::string> names;
  bpf_map* m;
  bpf_object__for_each_map(m, skel->obj) names.emplace_back(bpf_map__name(m));
  return names;
}

std::string pin_path(const std::string& dir, const std::string& name) { return dir + "/" + name; }

}  // namespace

const char* program_name(Program p) {
  switch (p) {
    case Program::xdp_ingress: return "zs_xdp_ingress";
    case Program::tc_ingress: return "zs_tc_ingress";
    case Program::tc_egress: return "zs_tc_egress";
    case Program::tc_trace: return "zs_tc_trace";
  }
  return "?";
}

std::unique_ptr<Datapath> Datapath::load(const DatapathOptions& options) {
  log::route_libbpf();
  if (options.pin) ensure_pin_dir(options.pin_dir);

  Skeleton skel(zeroseg_bpf__open());
  if (!skel) throw_errno("opening the embedded BPF object", errno);
  const MapSizes& s = options.sizes;
  bpf_map__set_max_entries(skel->maps.zs_ipcache, s.ipcache);
  bpf_map__set_max_entries(skel->maps.zs_endpoints, s.endpoints);
  bpf_map__set_max_entries(skel->maps.zs_ct_usage, s.endpoints);
  bpf_map__set_max_entries(skel->maps.zs_policy, s.policy);
  bpf_map__set_max_entries(skel->maps.zs_conntrack4, s.conntrack4);
  bpf_map__set_max_entries(skel->maps.zs_conntrack6, s.conntrack6);
  bpf_map__set_max_entries(skel->maps.zs_fragments, s.fragments);
  bpf_map__set_max_entries(skel->maps.zs_events, s.events_bytes);
  // Bits an older version never set (below): a pinned conntrack without
  // zs_ct_origin_ports (its flows set no port bit), a pinned ipcache
  // without zs_ipcache_blocks or policy without zs_policy_filter (their
  // keys set no bit); or any of them when another loader pinned programs
  // since this version last did (a rollback: loader/pin_stamp.h)
  auto pinned = [&](const char* name) { return access(pin_path(options.pin_dir, name).c_str(), F_OK) == 0; };
  const bool pins_ours = options.pin && pins_stamped_by_us(options.pin_dir, program_name(Program::tc_egress));
  // (a zs_ipcache_filter beside it: a version before it ran since, and
  // marked no key in it; one with a stamp, so pins_ours cannot tell)
  const bool ipcache_filter_new = options.pin && pinned("zs_ipcache") &&
                                  (!pinned("zs_ipcache_blocks") || !pins_ours || pinned("zs_ipcache_filter"));
  const bool policy_filter_new = options.pin && pinned("zs_policy") && (!pinned("zs_policy_filter") || !pins_ours);
  const bool origin_ports_new = options.pin && pinned("zs_conntrack4") && (!pinned("zs_ct_origin_ports") || !pins_ours);
  // a zs_config made now: its generations start again (below)
  const bool config_new = options.pin && !pinned("zs_config");
  if (options.pin) {
    if (pinned("zs_ipcache_filter")) open_retired_ipcache_filter(pin_path(options.pin_dir, "zs_ipcache_filter"));
    for (const char* name : kRetiredMaps) unlink(pin_path(options.pin_dir, name).c_str());
    bpf_map* m;
    bpf_object__for_each_map(m, skel->obj) {
      if (bpf_map__set_pin_path(m, pin_path(options.pin_dir, bpf_map__name(m)).c_str()))
        throw_errno(std::string("setting the pin path of map ") + bpf_map__name(m), errno);
    }
  }
  if (int err = zeroseg_bpf__load(skel.get())) {
    throw Error("loading the BPF datapath failed: " + std::string(std::strerror(-err)) +
                (err == -EINVAL && options.pin
                     ? " (maps pinned under " + options.pin_dir +
                           " may have other sizes or layouts: see the libbpf messages above, "
                           "or run `zeroseg bpf uninstall --bpf-pin-dir " + options.pin_dir + "`)"
                     : " (the verifier's log is above)"));
  }

  std::unique_ptr<Datapath> dp(new Datapath());
  dp->pin_dir_ = options.pin ? options.pin_dir : "";
  bpf_map* m;
  bpf_object__for_each_map(m, skel->obj) {
    std::string name = bpf_map__name(m);
    dp->map_fds_.emplace(name, UniqueFd(dup_fd(bpf_map__fd(m))));
  }
  for (Program p : kPrograms) {
    bpf_program* prog = bpf_object__find_program_by_name(skel->obj, program_name(p));
    dp->prog_fds_.emplace(p, UniqueFd(dup_fd(bpf_program__fd(prog))));
    if (options.pin) {
      std::string path = pin_path(options.pin_dir, program_name(p));
      unlink(path.c_str());
      if (bpf_obj_pin(dp->prog_fds_.at(p).get(), path.c_str()))
        throw_errno("pinning program " + std::string(program_name(p)), errno);
    }
  }
  for (auto& [name, fd] : dp->map_fds_) dp->maps_.emplace(name, MapRef(fd.get(), name));
  // Flows tracked by an older version (whose programs may still be
  // attached, tracking more) set no bit: every port may then be any
  // flow's, until the pins are removed (bpf/lib/deny_fastpath.h).
  if (origin_ports_new) {
    const zs_ct_port_bits all{~uint64_t{0}, ~uint64_t{0}};
    for (uint32_t i = 0; i < ZS_CT_ORIGIN_PORT_WORDS; i++) dp->map("zs_ct_origin_ports").update(&i, &all);
  }
  dp->map_config();
  if (ipcache_filter_new)
    for (uint32_t i = 0; i < ZS_IPCACHE_FILTER_WORDS; i++) dp->ipcache_filter_[i] = ~uint64_t{0};
  if (policy_filter_new)
    for (uint32_t i = 0; i < ZS_POLICY_FILTER_WORDS; i++) dp->policy_filter_[i] = ~uint64_t{0};
  // Answers stamped with generations of a zs_config gone: a version that
  // knew no memo left its pins when it removed the others
  // (bpf/lib/verdict_memo.h, ipcache_memo.h). Only then: emptying a
  // per-CPU value is a plain copy, which could tear a slot that a program
  // of the version before, still attached, is writing.
  if (config_new) dp->clear_memos();
  // And the endpoint memo beside a zs_config it does not name: one made
  // by a version that knew no endpoint memo, whose programs never write it
  // (bpf/lib/endpoint_memo.h).
  dp->claim_endpoint_memo();
  // The stamp last: it says the bits above are this version's to trust. A
  // start that stops before here (a throw above, a kill) leaves the new
  // programs pinned under the old stamp, and the next start takes the
  // bits as unknown again; stamped first, it trusted bits a rollback
  // never set (attack review 13).
  if (options.pin) stamp_pins(options.pin_dir, dp->prog_fds_.at(Program::tc_egress).get());
  return dp;
}

bool Datapath::is_pinned(const std::string& pin_dir) {
  return access(pin_path(pin_dir, "zs_config").c_str(), F_OK) == 0 &&
         access(pin_path(pin_dir, program_name(Program::tc_egress)).c_str(), F_OK) == 0;
}

std::unique_ptr<Datapath> Datapath::open_pinned(const std::string& pin_dir) {
  log::route_libbpf();
  if (!is_pinned(pin_dir))
    throw Error("no zeroseg datapath is pinned under " + pin_dir +
                " (is the agent running with this --bpf-pin-dir?)");
  std::unique_ptr<Datapath> dp(new Datapath());
  dp->pin_dir_ = pin_dir;
  for (const auto& name : map_names()) {
    int fd = bpf_obj_get(pin_path(pin_dir, name).c_str());
    if (fd < 0) throw_errno("opening pinned map " + pin_path(pin_dir, name), errno);
    dp->map_fds_.emplace(name, UniqueFd(fd));
  }
  for (Program p : kPrograms) {
    int fd = bpf_obj_get(pin_path(pin_dir, program_name(p)).c_str());
    if (fd < 0) throw_errno("opening pinned program " + pin_path(pin_dir, program_name(p)), errno);
    dp->prog_fds_.emplace(p, UniqueFd(fd));
  }
  for (auto& [name, fd] : dp->map_fds_) dp->maps_.emplace(name, MapRef(fd.get(), name));
  dp->map_config();
  return dp;
}

void Datapath::unpin(const std::string& pin_dir) {
  std::error_code ec;
  if (!fs::exists(pin_dir, ec)) return;
  for (const auto& name : map_names()) unlink(pin_path(pin_dir, name).c_str());
  for (const char* name : kRetiredMaps) unlink(pin_path(pin_dir, name).c_str());
  for (Program p : kPrograms) unlink(pin_path(pin_dir, program_name(p)).c_str());
  unlink(pin_path(pin_dir, kPinStampName).c_str());
  if (rmdir(pin_dir.c_str()) && errno != ENOENT)
    log::warn("pin directory " + pin_dir + " not removed: " + std::strerror(errno));
}

Datapath::~Datapath() {
  try {
    settle();
  } catch (const std::exception& e) {
    log::warn(std::string("levelling the map slots: ") + e.what() + " (the next agent levels them)");
  }
}

void Datapath::settle() {
  if (!pending_level_) return;
  auto level = std::move(pending_level_);
  pending_level_ = nullptr;
  try {
    level();
  } catch (...) {
    counted_ = false;  // the next transaction levels every entry first
    throw;
  }
}

int Datapath::program_fd(Program p) const { return prog_fds_.at(p).get(); }

const MapRef& Datapath::map(std::string_view name) const {
  auto it = maps_.find(name);
  if (it == maps_.end()) throw Error("the datapath has no map " + std::string(name));
  return it->second;
}

void Datapath::map_config() {
  config_map_ = map_shared(map("zs_config"), sizeof(zs_config));
  config_ = static_cast<zs_config*>(config_map_.get());
  if (config_->ct_timeout_tcp == 0) {
    // a fresh map: the defaults, before any program can see a packet
    config_->ct_timeout_tcp = ZS_DEFAULT_CT_TIMEOUT_TCP;
    config_->ct_timeout_tcp_closing = ZS_DEFAULT_CT_TIMEOUT_TCP_CLOSING;
    config_->ct_timeout_other = ZS_DEFAULT_CT_TIMEOUT_OTHER;
    config_->ct_timeout_tcp_syn_sent = ZS_DEFAULT_CT_TIMEOUT_TCP_SYN_SENT;
    config_->ct_timeout_tcp_syn_recv = ZS_DEFAULT_CT_TIMEOUT_TCP_SYN_RECV;
    config_->deny_events_per_sec = ZS_DEFAULT_DENY_EVENTS_PER_SEC;
    config_->deny_events_burst = ZS_DEFAULT_DENY_EVENTS_BURST;
    config_->deny_events_per_cpu = ZS_DEFAULT_DENY_EVENTS_PER_CPU;
    set_ct_endpoint_share(ZS_DEFAULT_CT_ENDPOINT_PERCENT);
  }
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ < 1) ncpus_ = 1;

  ipcache_filter_map_ = map_shared(map("zs_ipcache_blocks"), ZS_IPCACHE_FILTER_WORDS * sizeof(uint64_t));
  ipcache_filter_ = static_cast<uint64_t*>(ipcache_filter_map_.get());
  policy_filter_map_ = map_shared(map("zs_policy_filter"), ZS_POLICY_FILTER_WORDS * sizeof(uint64_t));
  policy_filter_ = static_cast<uint64_t*>(policy_filter_map_.get());
}

KernelFlows Datapath::kernel_flows() const {
  KernelFlows k;
  k.events = std::make_unique<EventRing>(map("zs_events"));
  k.conntrack = std::make_unique<ConntrackMap>(conntrack());
  k.ct_usage = std::make_unique<CtUsageMap>(map("zs_ct_usage"));
  const zs_config* cfg = config_;
  k.config = [cfg] { return *cfg; };
  return k;
}

void Datapath::set_ct_timeouts(uint32_t tcp, uint32_t tcp_closing, uint32_t other, uint32_t tcp_syn_sent,
                               uint32_t tcp_syn_recv) {
  if (tcp) __atomic_store_n(&config_->ct_timeout_tcp, tcp, __ATOMIC_RELAXED);
  if (tcp_closing) __atomic_store_n(&config_->ct_timeout_tcp_closing, tcp_closing, __ATOMIC_RELAXED);
  if (other) __atomic_store_n(&config_->ct_timeout_other, other, __ATOMIC_RELAXED);
  if (tcp_syn_sent) __atomic_store_n(&config_->ct_timeout_tcp_syn_sent, tcp_syn_sent, __ATOMIC_RELAXED);
  if (tcp_syn_recv) __atomic_store_n(&config_->ct_timeout_tcp_syn_recv, tcp_syn_recv, __ATOMIC_RELAXED);
}

void Datapath::set_ct_endpoint_share_entries(uint32_t entries4, uint32_t entries6) {
  __atomic_store_n(&config_->ct_endpoint_share[0], entries4, __ATOMIC_RELAXED);
  __atomic_store_n(&config_->ct_endpoint_share[1], entries6, __ATOMIC_RELAXED);
}

void Datapath::set_ct_endpoint_share(uint32_t percent) {
  auto share = [&](std::string_view table) {
    uint64_t n = uint64_t{map(table).max_entries()} * percent / 100;
    return static_cast<uint32_t>(std::max<uint64_t>(n, 1));
  };
  if (percent >= 100)
    set_ct_endpoint_share_entries(0, 0);
  else
    set_ct_endpoint_share_entries(share("zs_conntrack4"), share("zs_conntrack6"));
}

void Datapath::set_deny_event_rate(uint32_t per_sec, uint32_t burst) {
  __atomic_store_n(&config_->deny_events_burst, burst, __ATOMIC_RELAXED);
  __atomic_store_n(&config_->deny_events_per_sec, per_sec, __ATOMIC_RELAXED);
}

void Datapath::set_deny_event_budget(uint32_t per_cpu) {
  __atomic_store_n(&config_->deny_events_per_cpu, per_cpu, __ATOMIC_RELAXED);
}

uint64_t Datapath::generation() const { return __atomic_load_n(&config_->generation, __ATOMIC_ACQUIRE); }

namespace {

UniqueFd lock_pin_dir(const std::string& pin_dir, const std::string& holder_hint) {
  UniqueFd fd(open(pin_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("opening " + pin_dir, errno);
  if (flock(fd.get(), LOCK_EX | LOCK_NB)) {
    if (errno == EWOULDBLOCK)
      throw Error("another zeroseg process (" + holder_hint + ") already manages " + pin_dir +
                  ": use its socket, or another --bpf-pin-dir");
    throw_errno("locking " + pin_dir, errno);
  }
  return fd;
}

}  // namespace

void Datapath::lock_writers(const std::string& holder_hint) {
  if (writer_lock_ || pin_dir_.empty()) return;
  writer_lock_ = lock_pin_dir(pin_dir_, holder_hint);
}

std::vector<uint32_t> Datapath::pinned_interfaces(const std::string& pin_dir, const std::string& holder_hint,
                                                  UniqueFd& lock) {
  std::vector<uint32_t> ifindexes;
  if (access(pin_dir.c_str(), F_OK) != 0) return ifindexes;
  lock = lock_pin_dir(pin_dir, holder_hint);
  UniqueFd map(bpf_obj_get(pin_path(pin_dir, "zs_endpoints").c_str()));
  if (!map) return ifindexes;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map.get(), &info, &len) || info.key_size != sizeof(uint32_t))
    throw Error("the pinned zs_endpoints under " + pin_dir +
                " is not keyed by interface index: detach zeroseg's programs by hand (bpftool net)");
  uint32_t key = 0, next = 0;
  for (const uint32_t* prev = nullptr; bpf_map_get_next_key(map.get(), prev, &next) == 0; prev = &key) {
    key = next;
    ifindexes.push_back(key);
  }
  return ifindexes;
}

void Datapath::wait_for_programs() const {
  const MapRef& outer = map("zs_barrier");
  uint32_t zero = 0;
  uint32_t inner = map("zs_barrier_inner").fd();
  outer.update(&zero, &inner);
}

std::shared_future<void> Datapath::start_grace_period() {
  if (!cpu_pass_tried_) {
    cpu_pass_tried_ = true;
    const char* env = std::getenv("ZEROSEG_GRACE_PERIOD");
    std::string why;
    if (env && std::string(env) == "kernel")
      why = "ZEROSEG_GRACE_PERIOD=kernel";
    else
      cpu_pass_ = CpuPass::create(&why);
    log::debug(cpu_pass_ ? "grace periods: a pass over the CPUs"
                         : "grace periods: the kernel's (" + why + ")");
  }
  if (cpu_pass_)  // deferred: no thread, and a dropped future does not block
    return std::async(std::launch::deferred, [this] {
             if (!cpu_pass_->pass()) wait_for_programs();
           }).share();
  try {
    return std::async(std::launch::async, [this] { wait_for_programs(); }).share();
  } catch (const std::system_error&) {  // no thread to be had: the wait as before, when it is needed
    return std::async(std::launch::deferred, [this] { wait_for_programs(); }).share();
  }
}

size_t Datapath::entries(std::string_view map_name) const {
  auto it = entry_counts_.find(map_name);
  return it == entry_counts_.end() ? 0 : it->second;
}

// Makes every double-buffered entry's inactive slot equal its active one
// (a writer that died between the two halves of a commit leaves them
// apart; the active slot is what packets saw, so it wins), and counts the
// entries and prefix lengths in use.
void Datapath::repair_and_count() {
  int slot = active_slot();
  prefix_use_ = PrefixLengthUse();
  entry_counts_["zs_endpoints"] = repair_slots(endpoints(), slot, [](auto&, auto&) {});
  entry_counts_["zs_ipcache"] = repair_slots(ipcache(), slot, [&](const zs_ipcache_key& k, auto&) {
    prefix_use_.add_ip(k.family, k.prefixlen, 1);
    mark_ipcache_key(k);  // set already, unless a version without the filter wrote it
  });
  entry_counts_["zs_policy"] = repair_slots(policy(), slot, [&](const zs_policy_key& k, auto&) {
    prefix_use_.add_policy_key(k.peer, k.proto, k.port_plen, 1);
    mark_policy_key(k);  // set already, unless a version without the filter wrote it
  });
  entry_counts_["zs_sources"] = repair_slots(
      sources(), slot, [&](const zs_source_key& k, auto&) { prefix_use_.add_source(k.family, 1); });
  entry_counts_["zs_source_prefixes"] = repair_slots(source_prefixes(), slot, [](auto&, auto&) {});
  entry_counts_["zs_untracked"] = level_untracked(untracked(slot), untracked(slot ^ 1));
  prefix_use_.add_untracked(static_cast<int64_t>(entry_counts_["zs_untracked"]));
  config_->plan[0] = config_->plan[1] = prefix_use_.plan();
}

}  // namespace zeroseg
