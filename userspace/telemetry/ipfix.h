// SPDX-License-Identifier: Apache-2.0
// IpfixExporter: ended flows and denies as IPFIX (RFC 7011) over UDP.
//
// One template per address family. Standard information elements carry the
// 5-tuple, timestamps, counters (RFC 5103 reverse elements, PEN 29305, for
// the reply direction), interface, direction, end reason and firewall event;
// enterprise elements under PEN 32473 (RFC 5612's documentation number,
// until zeroseg has its own) carry what zeroseg adds:
//   1 sourceIdentity u32     2 destinationIdentity u32   3 verdict u8 (zs_verdict)
//   4 dropReason u8 (zs_reason)  5 ruleId u32   6 sourceName string   7 destinationName string
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

  uint64_t records_sent() const { return sequence_; }
  uint64_t messages_sent() const { return messages_; }
  uint64_t send_errors() const { return send_errors_; }

 private:
  void send_message(const std::vector<uint8_t>& sets, uint32_t records);
  std::vector<uint8_t> template_set() const;

  UniqueFd socket_;
  uint32_t domain_;
  uint32_t sequence_ = 0;  // data records sent, mod 2^32 (RFC 7011 3.1)
  uint64_t messages_ = 0, send_errors_ = 0;
  uint64_t messages_since_templates_ = 0;
  std::chrono::steady_clock::time_point templates_sent_{};
  bool templates_ever_sent_ = false;
  std::vector<uint8_t> set_[2];  // pending data set per family: [0] IPv4, [1] IPv6
  uint32_t set_records_[2] = {0, 0};
};

}  // namespace zeroseg
