// SPDX-License-Identifier: Apache-2.0
// Community ID v1 (https://github.com/corelight/community-id-spec): one
// string per conversation that Zeek, Suricata, Elastic, Arkime and others
// compute alike, so a flow record joins the same flow in their logs.
//
//   "1:" base64(SHA-1(seed u16 | lower addr | higher addr | proto u8 | 0 u8 | lower port u16 | higher port u16))
//
// The endpoint that sorts first (address, then port) goes first, so both
// directions give one id. Ports only for TCP, UDP and SCTP; ICMP and
// ICMPv6 use the type and the type's counterpart (echo request and reply,
// ...) in their place, and a type without a counterpart (errors,
// unsolicited messages) keeps (type, code) in packet order: one-way.
#pragma once

#include <zeroseg/conntrack.h>

#include <cstdint>
#include <string>

namespace zeroseg {

// The Community ID of a flow whose first packet had tuple t (ICMP: of type
// and code; ports ignored for ICMP). seed: the spec's seed, 0 by default.
std::string community_id(const zs_tuple& t, uint8_t icmp_type, uint8_t icmp_code, uint16_t seed = 0);

// The 20-byte SHA-1 of data (FIPS 180-4); exposed for its test.
void sha1(const uint8_t* data, size_t len, uint8_t out[20]);

}  // namespace zeroseg
