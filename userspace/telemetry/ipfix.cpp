// SPDX-License-Identifier: Apache-2.0
#include "telemetry/ipfix.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <zeroseg/proto.h>
#include <zeroseg/verdict.h>

#include <cerrno>
#include <ctime>

#include "common/error.h"
#include "net/addr.h"
#include "telemetry/community_id.h"
#include "telemetry/flow_catalog.h"

namespace zeroseg {
namespace {

// templates: kTemplateBase + family (0 IPv4, 1 IPv6) + 2 when leaving
constexpr uint16_t kTemplateBase = 256;
constexpr size_t kMaxMessage = 1400;  // stays under a 1500-byte MTU
constexpr uint16_t kVariableLength = 65535;

struct Field {
  uint16_t id;
  uint16_t length;
  uint32_t pen;  // 0: IANA
};

// The templates, in data order: the address and ICMP elements differ by
// family, the interface element by direction.
std::vector<Field> fields(bool v6, bool egress) {
  return {
      {152, 8, 0},                      // flowStartMilliseconds
      {153, 8, 0},                      // flowEndMilliseconds
      {uint16_t(v6 ? 27 : 8), uint16_t(v6 ? 16 : 4), 0},   // source{IPv4,IPv6}Address
      {uint16_t(v6 ? 28 : 12), uint16_t(v6 ? 16 : 4), 0},  // destination{IPv4,IPv6}Address
      {7, 2, 0},                        // sourceTransportPort
      {11, 2, 0},                       // destinationTransportPort
      {4, 1, 0},                        // protocolIdentifier
      {6, 2, 0},                        // tcpControlBits
      {uint16_t(v6 ? 139 : 32), 2, 0},  // icmpTypeCode{IPv4,IPv6}
      {2, 8, 0},                        // packetDeltaCount
      {1, 8, 0},                        // octetDeltaCount
      {2, 8, kReversePen},              // reversePacketDeltaCount
      {1, 8, kReversePen},              // reverseOctetDeltaCount
      {uint16_t(egress ? 14 : 10), 4, 0},  // {egress,ingress}Interface
      {61, 1, 0},                       // flowDirection
      {136, 1, 0},                      // flowEndReason
      {233, 1, 0},                      // firewallEvent
      {1, 4, kZeroSegPen},              // sourceIdentity
      {2, 4, kZeroSegPen},              // destinationIdentity
      {3, 1, kZeroSegPen},              // verdict
      {4, 1, kZeroSegPen},              // dropReason
      {5, 4, kZeroSegPen},              // ruleId
      {6, kVariableLength, kZeroSegPen},  // sourceName
      {7, kVariableLength, kZeroSegPen},  // destinationName
      {148, 8, 0},                        // flowId
      {8, kVariableLength, kZeroSegPen},  // communityId
  };
}

void put8(std::vector<uint8_t>& b, uint8_t v) { b.push_back(v); }
void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void put64(std::vector<uint8_t>& b, uint64_t v) {
  put32(b, static_cast<uint32_t>(v >> 32));
  put32(b, static_cast<uint32_t>(v));
}
void set16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
// RFC 7011 7: variable-length, one length byte below 255, else 255 + u16
void put_string(std::vector<uint8_t>& b, const std::string& s) {
  size_t n = std::min<size_t>(s.size(), 1024);
  if (n < 255) {
    put8(b, static_cast<uint8_t>(n));
  } else {
    put8(b, 255);
    put16(b, static_cast<uint16_t>(n));
  }
  b.insert(b.end(), s.begin(), s.begin() + static_cast<long>(n));
}

uint8_t end_reason_code(const FlowRecord& r) {
  if (r.event != FlowEvent::end) return 0;
  switch (r.end_reason) {
    case FlowEndReason::timeout: return 0x01;  // idle timeout
    case FlowEndReason::closed: return 0x03;   // end of flow detected
    case FlowEndReason::revoked: return 0x04;  // forced end
    case FlowEndReason::evicted: return 0x05;  // lack of resources
    case FlowEndReason::none: return 0;
  }
  return 0;
}

}  // namespace

IpfixExporter::IpfixExporter(const std::string& collector, uint32_t observation_domain) : domain_(observation_domain) {
  SocketAddress at = resolve_host_port(collector, SOCK_DGRAM, false, "ipfix-collector");
  socket_.reset(socket(at.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!socket_) throw_errno("creating the IPFIX socket", errno);
  if (connect(socket_.get(), reinterpret_cast<sockaddr*>(&at.addr), at.len))
    throw_errno("connecting to " + collector, errno);
}

std::vector<uint8_t> IpfixExporter::template_set() const {
  std::vector<uint8_t> b;
  put16(b, 2);  // template set
  put16(b, 0);  // length, below
  for (int t = 0; t < 4; t++) {
    auto f = fields(t & 1, t & 2);
    put16(b, static_cast<uint16_t>(kTemplateBase + t));
    put16(b, static_cast<uint16_t>(f.size()));
    for (const auto& field : f) {
      put16(b, static_cast<uint16_t>(field.id | (field.pen ? 0x8000 : 0)));
      put16(b, field.length);
      if (field.pen) put32(b, field.pen);
    }
  }
  set16(b, 2, static_cast<uint16_t>(b.size()));
  return b;
}

void IpfixExporter::send_message(const std::vector<uint8_t>& sets, uint32_t records) {
  std::vector<uint8_t> msg;
  msg.reserve(16 + sets.size());
  put16(msg, 10);  // version
  put16(msg, static_cast<uint16_t>(16 + sets.size()));
  put32(msg, static_cast<uint32_t>(time(nullptr)));
  put32(msg, sequence_);  // data records sent before this message
  put32(msg, domain_);
  msg.insert(msg.end(), sets.begin(), sets.end());
  // the collector may be down (ECONNREFUSED from an earlier message), the
  // socket's buffer full: count, go on
  if (send(socket_.get(), msg.data(), msg.size(), 0) < 0) counts_.send_errors++;
  else counts_.records += records;
  sequence_ += records;
  counts_.messages++;
  messages_since_templates_++;
}

void IpfixExporter::add(const FlowRecord& r, const FlowCatalog& names) {
  int fam = r.tuple.family == 6 ? 1 : 0;
  int tmpl = fam + (r.ingress() ? 0 : 2);
  std::vector<uint8_t> rec;
  const bool deny = r.event == FlowEvent::deny;
  int64_t start_ms = (deny ? r.time_ns : r.start_ns) / 1000000, end_ms = r.time_ns / 1000000;
  put64(rec, static_cast<uint64_t>(start_ms));
  put64(rec, static_cast<uint64_t>(end_ms));
  size_t alen = fam ? 16 : 4;
  const auto* s = reinterpret_cast<const uint8_t*>(r.tuple.saddr);
  const auto* d = reinterpret_cast<const uint8_t*>(r.tuple.daddr);
  rec.insert(rec.end(), s, s + alen);
  rec.insert(rec.end(), d, d + alen);
  bool icmp = zs_is_icmp(r.tuple.proto);
  put16(rec, icmp ? 0 : ntohs(r.tuple.sport));
  put16(rec, icmp ? 0 : ntohs(r.tuple.dport));
  put8(rec, r.tuple.proto);
  put16(rec, static_cast<uint16_t>(r.tcp_flags[0] | r.tcp_flags[1]));
  put16(rec, icmp ? zs_policy_port(r.tuple.proto, 0, r.icmp_type, r.icmp_code) : 0);  // icmpTypeCode: type << 8 | code
  put64(rec, deny ? 1 : r.packets[0]);
  put64(rec, r.bytes[0]);
  put64(rec, r.packets[1]);
  put64(rec, r.bytes[1]);
  put32(rec, r.ifindex);
  put8(rec, r.ingress() ? 0 : 1);
  put8(rec, end_reason_code(r));
  put8(rec, deny ? 3 : 2);  // firewallEvent: flow denied, flow deleted
  put32(rec, r.source_identity());
  put32(rec, r.destination_identity());
  put8(rec, r.verdict);
  put8(rec, r.reason);
  put32(rec, r.rule_id);
  put_string(rec, names.party(tuple_source(r.tuple), r.source_identity()).text);
  put_string(rec, names.party(tuple_destination(r.tuple), r.destination_identity()).text);
  put64(rec, r.flow_id);
  put_string(rec, community_id(r.tuple, r.icmp_type, r.icmp_code));

  auto& set = set_[tmpl];
  if (!set.empty() && 16 + set.size() + rec.size() > kMaxMessage) flush();
  if (set.empty()) {
    put16(set, static_cast<uint16_t>(kTemplateBase + tmpl));
    put16(set, 0);
  }
  set.insert(set.end(), rec.begin(), rec.end());
  set_records_[tmpl]++;
}

void IpfixExporter::flush() {
  auto now = std::chrono::steady_clock::now();
  bool pending = false;
  for (const auto& set : set_) pending |= !set.empty();
  if (pending && (!templates_ever_sent_ || messages_since_templates_ >= 100 || now - templates_sent_ > std::chrono::seconds(30))) {
    send_message(template_set(), 0);
    templates_ever_sent_ = true;
    templates_sent_ = now;
    messages_since_templates_ = 0;
  }
  for (int t = 0; t < 4; t++) {
    if (set_[t].empty()) continue;
    set16(set_[t], 2, static_cast<uint16_t>(set_[t].size()));
    send_message(set_[t], set_records_[t]);
    set_[t].clear();
    set_records_[t] = 0;
  }
}

}  // namespace zeroseg
