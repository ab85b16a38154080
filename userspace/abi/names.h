// SPDX-License-Identifier: Apache-2.0
// Human names for the datapath's numbers, for tables, JSON and flags.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zeroseg {

const char* verdict_name(uint8_t verdict);  // allowed, denied, audit, unmanaged
const char* reason_name(uint8_t reason);    // policy-deny, default-deny, malformed-ipv4, ...
const char* counter_name(uint32_t slot);    // events-lost, ...: the slots of ZS_COUNTERS, "?" for others
const char* direction_name(uint8_t dir);    // ingress, egress
const char* mode_name(uint8_t mode);        // off, audit, enforce
const char* attach_kind_name(uint8_t kind); // workload, host
std::string proto_name(uint8_t proto);      // tcp, udp, icmp, ..., or the number
std::string identity_name(uint32_t id);     // host, world, ... or the number

std::optional<uint8_t> parse_proto(std::string_view s);  // name or number; "any" = 0
std::optional<uint8_t> parse_mode(std::string_view s);
std::optional<uint8_t> parse_direction(std::string_view s);

}  // namespace zeroseg
