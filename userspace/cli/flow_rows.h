// SPDX-License-Identifier: Apache-2.0
// `zeroseg flows` as people read it: a record's row (time, event, verdict,
// source, destination, protocol, why) and the order of a listing.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace zeroseg::cli {

// The last column: the rule or reason; for ends, how the flow ended and
// its packets and bytes ("1 pkt sent", "3/2 pkts, 180B/120B").
std::string why_text(const nlohmann::json& f);
// The table's columns, the arrow included.
std::vector<std::string> flow_row(const nlohmann::json& f);
// Records in the order of their `time` (equal times in the order given):
// an end carries its flow's last packet's time but is written when the
// conntrack sweep sees the flow gone, seconds later and after the starts
// of flows that began meanwhile.
void order_by_time(std::vector<nlohmann::json>& flows);

}  // namespace zeroseg::cli
