/* SPDX-License-Identifier: Apache-2.0 */
/* Source address validation: which sources a packet arriving on an
 * attached interface may carry (bpf/lib/source_check.h).
 *
 * A workload's egress (packets arriving on the host end of its veth) must
 * come from one of its own addresses (Workload spec.ips), from a prefix its
 * spec.allowedSourcePrefixes names, or be one of the on-link exceptions of
 * zs_source_on_link (IPv6 link-local; :: for DAD, router solicitation and
 * MLD reports; 0.0.0.0 for a DHCP request); anything else is dropped as
 * spoofed-source. Another workload's address inside a workload's
 * allowedSourcePrefixes is carved out of them (a denied host entry): a
 * router may forward from anywhere but may not send as a workload the
 * ipcache would judge it as. Packets arriving on a host uplink from
 * outside must not carry a local workload's address
 * (uplink-spoofed-source). */
#ifndef ZEROSEG_SOURCE_H
#define ZEROSEG_SOURCE_H

#include "types.h"
#include "slots.h"

/* What a source address is to the interface it arrives on. */
enum zs_source_kind {
	ZS_SOURCE_NONE = 0,  /* absent in this slot */
	ZS_SOURCE_OWN = 1,   /* a workload's own address, on its interface */
	ZS_SOURCE_LOCAL = 2, /* a local workload's address, on a host uplink */
};

/* sources (hash): (ifindex, address) -> zs_source_kind, exact addresses
 * only: one probe per arriving packet, whatever the number of entries.
 * Every workload interface has one entry per own address; every host
 * uplink one per address of every local workload. */
struct zs_source_key {
	__u32 ifindex;
	__u8 family;   /* zs_family */
	__u8 pad[3];
	__u32 addr[4]; /* network order; IPv4 in addr[0], rest 0 */
};

struct zs_source_value {
	__u8 kind[ZS_SLOTS]; /* zs_source_kind per slot */
};

/* source_prefixes (LPM trie): (ifindex, prefix) -> allowed or denied,
 * for a workload's allowedSourcePrefixes (allowed) and the addresses of
 * other workloads inside them, carved out as host prefixes (/32, /128:
 * denied). Read only when a workload's source is not one of its own
 * addresses (a router's forwarded packets, or a spoof). IPv4 prefixes are
 * IPv4-mapped (::ffff:0:0/96). prefixlen counts the ifindex: 32 + the
 * mapped prefix's length.
 *
 * An LPM lookup returns only the longest match, which may be absent in the
 * slot packets read (an entry of the other generation). The compiler keeps
 * a workload's prefixes disjoint (a prefix inside another is dropped), so
 * at most three entries cover an address: its carve-out (one key, both
 * generations) and an allowed prefix of each generation. The datapath then
 * looks again at a shorter length than the absent entry's, which the value
 * repeats; the first entry present in its slot decides. An entry answers
 * its own family only: an IPv4 source, none shorter than /96 (an IPv6
 * prefix such as ::/0 covers ::ffff:0:0/96 in the trie); an IPv6 source
 * inside ::ffff:0:0/96, none (zs_source_prefix_allowed). */
struct zs_source_prefix_key {
	__u32 prefixlen;
	__u32 ifindex;  /* whole (prefixlen >= 32): its byte order does not matter */
	__u32 addr[4];
};

/* A source prefix entry's state in one slot. */
enum zs_source_prefix_state {
	ZS_SOURCE_PREFIX_ABSENT = 0,
	ZS_SOURCE_PREFIX_ALLOWED = 1,
	ZS_SOURCE_PREFIX_DENIED = 2, /* another workload's address: carved out */
};

/* at most this many entries cover one address (above) */
#define ZS_SOURCE_PREFIX_PROBES 3

struct zs_source_prefix_value {
	__u8 allowed[ZS_SLOTS]; /* zs_source_prefix_state per slot */
	__u8 prefixlen;         /* the key's */
	__u8 pad;
};

#define ZS_SOURCE_PREFIX_IFINDEX_BITS 32

ZS_STATIC_ASSERT(sizeof(struct zs_source_key) == 24, "zs_source_key ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_source_value) == 2, "zs_source_value ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_source_prefix_key) == 24, "zs_source_prefix_key ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_source_prefix_value) == 4, "zs_source_prefix_value ABI");

#endif
