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
#include "ipcache.h"
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

/* sources_blocks (array of __u64, mmapped by the agent): a filter of the
 * addresses of every key zs_sources has held since the map was made, set
 * by the agent before a key is written and never cleared, as
 * ipcache_blocks is (ipcache.h). A source whose bit is clear is no key's
 * on any interface: the probe could only miss, and is skipped
 * (bpf/lib/deny_fastpath.h). Every packet in by a host uplink probed
 * zs_sources, to catch a local workload's address; local workloads' are
 * few and close together, and a flood's sources are elsewhere.
 *
 * A bit stands for a /22 (IPv6: a /54): its word from a hash of the
 * family and the /16 (/48) block, its bit in the word from the address's
 * next 6 bits. A flood from one /16 reads one word, which stays in cache.
 * An address in the /22 of a local workload's, or in a /16 whose word
 * another block's bits share, is a false hit: it costs the probe. */
#define ZS_SOURCE_FILTER_BITS_LOG2 16
#define ZS_SOURCE_FILTER_WORDS (1U << (ZS_SOURCE_FILTER_BITS_LOG2 - 6))

/* The bit of a source address (network order, IPv4 in addr[0]) in
 * sources_blocks: its word's index << 6 | its bit in the word. */
ZS_INLINE __u32 zs_source_filter_bit(__u8 family, const __u32 *addr)
{
	__u32 a0 = zs_ntohl(addr[0]), a1 = zs_ntohl(addr[1]);
	__u32 h = zs_ipcache_filter_mix(family, a0 >> 16), low = a0;

	if (family != ZS_FAMILY_IPV4) {
		h = zs_ipcache_filter_mix(zs_ipcache_filter_mix(family, a0), a1 >> 16);
		low = a1;
	}
	h *= 0x85ebca6bU;
	return (h >> (32 - ZS_SOURCE_FILTER_BITS_LOG2 + 6)) << 6 | ((low >> 10) & 63);
}

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
