// SPDX-License-Identifier: Apache-2.0
// Events from the kernel to the JSON flow log.
//
// 1. Producer cost: ns per event in the kernel (reserve + fill + submit of a
//    zs_event) against filling the same record into a per-CPU slot, both
//    through BPF_PROG_TEST_RUN in the same run.
// 2. Consumer throughput: the real datapath judges denied packets (deny
//    events unlimited) on CPU 0 as fast as it can; the agent's real pipeline
//    (Telemetry: ring buffer, flow table, JSON line, flow log file, recent
//    buffer) runs on CPU 1. Events consumed per second and events lost.
//    The FlowAnalyzer (detection, ledger) gets CPU 0 with the producer:
//    this machine has two cores; the records it skipped are counted.
// 3. The same, paced at a fixed offered rate: are any lost?
// 4. The analyzer alone on one core: records per second through detection
//    and the ledger, from 4096 sources trying 64 ports each.
//
//   sudo build/bench/events_bench [--seconds S] [--rate EVENTS_PER_SEC] [--log PATH]
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <zeroseg/verdict.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "loader/datapath.h"
#include "loader/test_run.h"
#include "loader/transaction.h"
#include "event_producer.skel.h"
#include "net/packet_builder.h"
#include "detect/flow_analyzer.h"
#include "telemetry/telemetry.h"

using namespace zeroseg;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kIfindex = 1;  // lo: test runs need a real device

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct ProducerCost {
  double emit = 1e18, fill = 1e18;
};

ProducerCost producer_cost() {
  event_producer_bpf* skel = event_producer_bpf__open_and_load();
  if (!skel) throw std::runtime_error("loading event_producer.bpf.o failed");
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel->maps.zs_bench_events),
                                     [](void*, void*, size_t) { return 0; }, nullptr, nullptr);
  std::vector<uint8_t> pkt = PacketBuilder().eth().ipv4("10.0.2.2", "10.0.1.2").tcp(40000, 80, 2).build();
  ProducerCost c;
  for (int round = 0; round < 15; round++) {
    // 20k events (1.7 MiB) fit the 4 MiB ring: no reservation fails
    auto e = test_run(bpf_program__fd(skel->progs.zs_bench_emit), Program::xdp_ingress, pkt, kIfindex, 20000);
    ring_buffer__consume(rb);
    auto f = test_run(bpf_program__fd(skel->progs.zs_bench_fill), Program::xdp_ingress, pkt, kIfindex, 20000);
    c.emit = std::min<double>(c.emit, e.duration_ns);
    c.fill = std::min<double>(c.fill, f.duration_ns);
  }
  uint32_t zero = 0;
  std::vector<uint64_t> lost(libbpf_num_possible_cpus());
  bpf_map_lookup_elem(bpf_map__fd(skel->maps.zs_bench_lost), &zero, lost.data());
  uint64_t total_lost = 0;
  for (auto l : lost) total_lost += l;
  if (total_lost) std::fprintf(stderr, "warning: %llu reservations failed\n", static_cast<unsigned long long>(total_lost));
  ring_buffer__free(rb);
  event_producer_bpf__destroy(skel);
  return c;
}

struct Run {
  double seconds = 0;  // producing
  uint64_t produced = 0, consumed = 0, lost = 0, skipped = 0;
  double drain_seconds = 0;  // producing + until the consumer caught up
};

// Judges denied packets for `seconds`, at `rate` events/s (0: flat out).
Run produce(const Datapath& dp, Telemetry& t, FlowAnalyzer& analyzer, double seconds, double rate) {
  std::vector<uint8_t> pkt = PacketBuilder().eth().ipv4("10.9.2.2", "10.0.1.2").tcp(40000, 80, 2).build();
  const uint32_t batch = 1000;
  int prog = dp.program_fd(Program::tc_ingress);
  uint64_t events0 = t.counters().events, lost0 = dp.counter(ZS_CTR_EVENTS_LOST).packets;
  uint64_t skipped0 = analyzer.records_skipped();
  Run r;
  auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    if (rate > 0) {
      // the next batch is due when the offered rate says so
      double due = static_cast<double>(r.produced) / rate;
      while (seconds_since(start) < due) {
      }
    }
    test_run(prog, Program::tc_ingress, pkt, kIfindex, batch);
    r.produced += batch;
  }
  r.seconds = seconds_since(start);
  for (int i = 0; i < 1000; i++) {
    r.consumed = t.counters().events - events0;
    r.lost = dp.counter(ZS_CTR_EVENTS_LOST).packets - lost0;
    if (r.consumed + r.lost >= r.produced) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.drain_seconds = seconds_since(start);
  analyzer.drain();
  r.skipped = analyzer.records_skipped() - skipped0;
  return r;
}

// Detection and the ledger alone: records a second on this thread's core.
double analyzer_rate() {
  std::vector<FlowRecord> records;
  for (uint32_t src = 0; src < 4096; src++)
    for (uint16_t port = 1; port <= 64; port++) {
      FlowRecord r;
      r.event = FlowEvent::deny;
      r.verdict = ZS_VERDICT_DENIED;
      r.reason = ZS_REASON_DEFAULT_DENY;
      r.time_ns = 1'700'000'000'000'000'000 + int64_t{src} * 64'000 + port * 1000;
      r.peer = 2;
      r.subject = 300;
      r.tuple.family = 4;
      r.tuple.proto = 6;
      r.tuple.saddr[0] = htonl(0x0a090000 + src);
      r.tuple.daddr[0] = htonl(0x0a000102);
      r.tuple.sport = htons(40000);
      r.tuple.dport = htons(port);
      records.push_back(r);
    }
  auto names = std::make_shared<FlowCatalog>("bench");
  FlowAnalyzer a({});
  pthread_t self = pthread_self();
  cpu_set_t set;
  pthread_getaffinity_np(self, sizeof(set), &set);
  pthread_setaffinity_np(a.native_handle(), sizeof(set), &set);
  auto start = Clock::now();
  for (size_t i = 0; i < records.size(); i += 1000) {
    a.submit(names, std::vector<FlowRecord>(records.begin() + i, records.begin() + std::min(records.size(), i + 1000)));
    if (i % 64000 == 0) a.drain();
  }
  a.drain();
  return static_cast<double>(records.size()) / seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3, rate = 1e6;
  uint64_t max_bytes = 256ull << 20;
  std::string log_path = "/dev/shm/zeroseg-events-bench.json";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (a == "--rate") rate = std::stod(argv[i + 1]);
    else if (a == "--log") log_path = argv[i + 1];
    else if (a == "--log-max-bytes") max_bytes = std::stoull(argv[i + 1]);
  }
  pin_to_cpu(0);
  std::fprintf(stderr, "producer cost ...\n");
  ProducerCost cost = producer_cost();

  MapSizes sizes;
  sizes.conntrack4 = sizes.conntrack6 = 65536;
  auto dp = Datapath::load({.sizes = sizes, .pin = false});
  {
    Transaction tx(*dp);
    zs_endpoint ep{};
    ep.identity = 300;
    ep.kind = ZS_ATTACH_HOST;
    ep.mode[0] = ep.mode[1] = ZS_MODE_ENFORCE;  // no rules: every new flow is a default deny
    tx.set_endpoint(kIfindex, ep);
    tx.commit();
  }
  dp->set_deny_event_rate(0, 0);  // every deny is an event

  // the consumer thread inherits CPU 1, the producer stays on CPU 0
  pin_to_cpu(1);
  TelemetryOptions opts;
  opts.node = "bench";
  opts.flow_log = log_path;
  opts.flow_log_max_bytes = max_bytes;
  opts.flow_log_keep = 1;
  opts.sweep_interval_ms = 1000;
  auto analyzer = std::make_unique<FlowAnalyzer>(AnalyzerOptions{});
  opts.analysis = analyzer.get();
  auto t = std::make_unique<Telemetry>(dp->kernel_flows(), std::move(opts));
  pin_to_cpu(0);
  cpu_set_t cpu0;
  CPU_ZERO(&cpu0);
  CPU_SET(0, &cpu0);
  pthread_setaffinity_np(analyzer->native_handle(), sizeof(cpu0), &cpu0);

  std::fprintf(stderr, "flat out for %.0fs ...\n", seconds);
  Run flat = produce(*dp, *t, *analyzer, seconds, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::fprintf(stderr, "paced at %.0f/s for %.0fs ...\n", rate, seconds);
  Run paced = produce(*dp, *t, *analyzer, seconds, rate);
  t.reset();
  analyzer.reset();
  pin_to_cpu(1);
  std::fprintf(stderr, "the analyzer alone ...\n");
  double analysed = analyzer_rate();
  // only the files the run wrote: never a device such as /dev/null
  for (const std::string& f : {log_path, log_path + ".1"}) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(f, ec)) std::filesystem::remove(f, ec);
  }

  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| producer: reserve+fill+submit, ns/event | %.0f |\n", cost.emit);
  std::printf("| producer: fill only (floor), ns/event | %.0f |\n", cost.fill);
  std::printf("| producer: ring buffer cost, ns/event | %.0f |\n", cost.emit - cost.fill);
  auto row = [](const char* name, const Run& r) {
    std::printf("| %s: offered, events/s | %.0f |\n", name, r.produced / r.seconds);
    std::printf("| %s: consumed to the JSON log, events/s | %.0f |\n", name, r.consumed / r.drain_seconds);
    std::printf("| %s: lost | %llu of %llu (%.2f%%) |\n", name, static_cast<unsigned long long>(r.lost),
                static_cast<unsigned long long>(r.produced), 100.0 * r.lost / std::max<uint64_t>(r.produced, 1));
    std::printf("| %s: analyzer skipped (sharing CPU 0 with the producer) | %llu |\n", name,
                static_cast<unsigned long long>(r.skipped));
  };
  row("flat out", flat);
  row("paced", paced);
  std::printf("| analyzer alone: records/s on one core | %.0f |\n", analysed);
  return 0;
}
