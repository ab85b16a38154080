// SPDX-License-Identifier: Apache-2.0
#include "datapath_fixture.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include "loader/slot_access.h"

namespace zeroseg::test {

std::unique_ptr<Datapath> DatapathTest::dp_;

namespace {

template <class Key, class Value>
void clear(const Map<Key, Value>& m) {
  for (auto& [k, v] : m.entries()) m.erase(k);
}

void clear_raw(const MapRef& m) {
  for (auto& k : m.keys()) m.remove(k.data());
}

}  // namespace

void DatapathTest::SetUpTestSuite() {
  if (geteuid() != 0) return;
  dp_ = Datapath::load({.pin = false});
}

void DatapathTest::SetUp() {
  ZS_REQUIRE_PRIVILEGED();
  ASSERT_TRUE(dp_);
  // a clean slate: no policy, no flows, no counters
  Transaction tx(*dp_);
  for (auto& [k, v] : dp_->endpoints().entries()) tx.remove_endpoint(k);
  for (auto& [k, v] : dp_->ipcache().entries()) tx.remove_identity(Transaction::prefix_of(k));
  for (auto& [k, v] : dp_->policy().entries()) tx.remove_rule(k);
  for (auto& [k, v] : dp_->sources().entries()) tx.remove_source(k);
  for (auto& [k, v] : dp_->source_prefixes().entries()) tx.remove_source_prefix(k);
  for (auto& [k, v] : dp_->untracked(dp_->active_slot()).entries()) tx.remove_untracked(k);
  // the endpoint may send from any source: these tests are about policy
  // (spoof_test.cpp takes them away)
  tx.set_source_prefix(Transaction::source_prefix_key(kIfindex, *Prefix::parse("0.0.0.0/0")));
  tx.set_source_prefix(Transaction::source_prefix_key(kIfindex, *Prefix::parse("::/0")));
  tx.commit();
  dp_->conntrack().clear();
  // no flow, so no port any flow's packet may go to (deny_fastpath.h)
  const zs_ct_port_bits none{};
  for (uint32_t i = 0; i < ZS_CT_ORIGIN_PORT_WORDS; i++) dp_->map("zs_ct_origin_ports").update(&i, &none);
  clear_raw(dp_->map("zs_ct_usage"));
  clear_raw(dp_->map("zs_fragments"));
  clear_raw(dp_->map("zs_deny_ratelimit"));
  {  // no source has a slot, none is held (deny_sources.h): a hold
     // outlives a test's deleted bucket by up to a second
    const MapRef& sources = dp_->map("zs_deny_sources");
    const std::vector<uint8_t> none(sources.value_size());
    const uint32_t zero = 0;
    sources.update(&zero, none.data());
  }
  dp_->clear_memos();
  std::vector<zs_counters> zero(libbpf_num_possible_cpus());
  const uint32_t key = 0;
  dp_->map("zs_counters").update(&key, zero.data());
  // an empty bucket refills whole on its next use
  std::vector<zs_deny_budget> full(libbpf_num_possible_cpus());
  dp_->map("zs_deny_budget").update(&key, full.data());
  dp_->set_deny_event_rate(ZS_DEFAULT_DENY_EVENTS_PER_SEC, ZS_DEFAULT_DENY_EVENTS_BURST);
  dp_->set_deny_event_budget(ZS_DEFAULT_DENY_EVENTS_PER_CPU);
}

Program DatapathTest::program_for(uint8_t direction) const {
  if (GetParam() == Variant::xdp_host)
    return direction == ZS_DIR_INGRESS ? Program::xdp_ingress : Program::tc_egress;
  return direction == ZS_DIR_INGRESS ? Program::tc_egress : Program::tc_ingress;
}

uint32_t DatapathTest::retval(uint8_t direction, const std::vector<uint8_t>& packet) {
  Program p = program_for(direction);
  return test_run(dp_->program_fd(p), p, packet, kIfindex).retval;
}

std::vector<zs_event> DatapathTest::drain_events() {
  std::vector<zs_event> out;
  auto cb = [](void* ctx, void* data, size_t size) {
    if (size >= sizeof(zs_event)) static_cast<std::vector<zs_event>*>(ctx)->push_back(*static_cast<zs_event*>(data));
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(dp_->map("zs_events").fd(), cb, &out, nullptr);
  ring_buffer__consume(rb);
  ring_buffer__free(rb);
  return out;
}

bool DatapathTest::send(uint8_t direction, const std::vector<uint8_t>& packet) {
  return test_run_passed(program_for(direction), retval(direction, packet));
}

bool DatapathTest::send_on(uint32_t ifindex, uint8_t direction, const std::vector<uint8_t>& packet) {
  Program p = program_for(direction);
  return test_run_passed(p, test_run(dp_->program_fd(p), p, packet, ifindex).retval);
}

bool DatapathTest::testable(uint8_t direction, const std::vector<uint8_t>& p) const {
  if (program_for(direction) == Program::xdp_ingress) return true;
  size_t off = 12;
  auto type = [&] { return off + 2 <= p.size() ? (p[off] << 8 | p[off + 1]) : -1; };
  // the kernel reads the ethertype after the outermost tag only
  if (type() == 0x8100 || type() == 0x88a8) return true;
  if (type() == 0x0800) return p.size() >= off + 2 + 20;
  if (type() == 0x86dd) return p.size() >= off + 2 + 40;
  return true;
}

void DatapathTest::set_endpoint(uint32_t identity, uint8_t ingress_mode, uint8_t egress_mode, Transaction* tx) {
  zs_endpoint ep{};
  ep.identity = identity;
  ep.kind = static_cast<uint8_t>(kind());
  ep.mode[ZS_DIR_INGRESS] = ingress_mode;
  ep.mode[ZS_DIR_EGRESS] = egress_mode;
  Transaction own(*dp_);
  (tx ? *tx : own).set_endpoint(kIfindex, ep);
  own.commit();
}

void DatapathTest::set_identity(const std::string& prefix, uint32_t identity, Transaction* tx) {
  Transaction own(*dp_);
  (tx ? *tx : own).set_identity(*Prefix::parse(prefix), identity);
  own.commit();
}

namespace {

std::vector<zs_policy_key> keys_of(const RuleSpec& r) {
  zs_policy_key base{};
  base.subject = r.subject;
  base.peer = r.peer;
  base.direction = r.direction;
  base.proto = r.proto;
  if (r.first == 0 && r.last == 0) return {base};
  std::vector<zs_policy_key> keys;
  for (auto pp : port_range_to_prefixes(r.first, r.last)) {
    zs_policy_key k = base;
    k.port = pp.port;
    k.port_plen = pp.plen;
    keys.push_back(k);
  }
  return keys;
}

}  // namespace

void DatapathTest::add_rule(const RuleSpec& r, Transaction* staged) {
  Transaction own(*dp_);
  Transaction& tx = staged ? *staged : own;
  for (const auto& k : keys_of(r)) {
    zs_policy_entry e{};
    if (auto cur = dp_->policy().get(k)) e = slot_ref(*cur, dp_->active_slot());
    if (r.allow_rule) {
      e.allow_rule = r.allow_rule;
      e.allow_expires = r.expires_tai;
    }
    if (r.deny_rule) {
      e.deny_rule = r.deny_rule;
      e.deny_expires = r.expires_tai;
      e.deny_audit = r.audit;
    }
    tx.set_rule(k, e);
  }
  own.commit();
}

void DatapathTest::remove_rule(const RuleSpec& r) {
  Transaction tx(*dp_);
  for (const auto& k : keys_of(r)) tx.remove_rule(k);
  tx.commit();
}

}  // namespace zeroseg::test
