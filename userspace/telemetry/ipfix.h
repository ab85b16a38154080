// SPDX-License-Identifier: Apache-2.0
// IpfixExporter: ended flows and denies as IPFIX (RFC 7011) over UDP.
//
// One template per address family and direction (256 IPv4 and 257 IPv6
// seen arriving, with ingressInterface; 258 and 259 seen leaving, with
// egressInterface: the interface the record's packets left by). Standard
// information elements carry the 5-tuple, timestamps, counters (RFC 5103
// reverse elements, PEN 29305, for the reply direction), interface,
// direction, end reason, firewall event and flowId (the flow log's
// flow_id); enterprise elements under PEN 32473 (RFC 5612's documentation
// number, until zeroseg has its own) carry what zeroseg adds:
//   1 sourceIdentity u32     2 destinationIdentity u32   3 verdict u8 (zs_verdict)
//   4 dropReason u8 (zs_reason)  5 ruleId u32   6 sourceName string   7 destinationName string
//   8 communityId string (Community ID v1, as the flow log's community_id)
// deploy/ipfix-elements.xml defines them for collectors (libfds' format:
// ipfixcol2 reads it from /etc/libfds/user/elements/).
// Templates are sent first and then every 30 seconds or 100 messages, as
// RFC 7011 asks of exporters over UDP.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/handles.h"
#include "telemetry/telemetry.h"

namespace zeroseg {

inline constexpr uint32_t kZeroSegPen = 32473;
inline constexpr uint32_t kReversePen = 29305;

class IpfixExporter : public FlowExporter {
 public:
  // collector: "HOST:PORT" or "[v6]:PORT"; throws Error naming it when it
  // does not resolve.
  explicit IpfixExporter(const std::string& collector, uint32_t observation_domain = 1);
  void add(const FlowRecord& r, const FlowCatalog& names) override;
  void flush() override;

  uint64_t records_sent() const { return counts_.records.load(); }
  uint64_t messages_sent() const { return counts_.messages.load(); }
  uint64_t send_errors() const { return counts_.send_errors.load(); }

 private:
  void send_message(const std::vector<uint8_t>& sets, uint32_t records);
  std::vector<uint8_t> template_set() const;

  UniqueFd socket_;
  uint32_t domain_;
  uint32_t sequence_ = 0;  // data records sent, mod 2^32 (RFC 7011 3.1)
  uint64_t messages_since_templates_ = 0;
  std::chrono::steady_clock::time_point templates_sent_{};
  bool templates_ever_sent_ = false;
  // pending data set per template: [0] IPv4 and [1] IPv6 arriving, [2], [3] leaving
  std::vector<uint8_t> set_[4];
  uint32_t set_records_[4] = {0, 0, 0, 0};
};

}  // namespace zeroseg
