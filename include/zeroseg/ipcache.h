/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZEROSEG_IPCACHE_H
#define ZEROSEG_IPCACHE_H

#include "types.h"
#include "slots.h"

/* ipcache: IP prefix -> identity, both families in one hash map.
 *
 * Why a hash per prefix length and not an LPM trie: an LPM trie lookup walks
 * one node per significant bit, so its cost grows with the number and spread
 * of prefixes (about 5x from 10 to 100k prefixes, see bench/RESULTS.md). Here
 * the key carries the prefix length and the address masked to it; the
 * datapath probes the distinct lengths in use, longest first
 * (zs_lookup_plan), and the first hit is the longest match. A lookup costs
 * one hash probe per distinct length, whatever the number of prefixes.
 * Workloads are /32 and /128, so their lookups hit on the first probe. The
 * agent refuses more than ZS_MAX_PREFIX_LENS distinct lengths per family.
 *
 * No entry: the address is ZS_ID_WORLD. */
struct zs_ipcache_key {
	__u8 family;    /* ZS_FAMILY_* */
	__u8 prefixlen; /* 0..32 or 0..128 */
	__u16 pad;
	__u32 addr[4];  /* network order, masked; IPv4 in addr[0], rest 0 */
};

struct zs_ipcache_value {
	__u32 identity[ZS_SLOTS]; /* ZS_ID_ANY (0) = absent in that slot */
};

/* ipcache_filter (array of __u64, mmapped by the agent): a bit per hash
 * of every key the ipcache has held since the map was made, set by the
 * agent before the key is written and never cleared. A probe whose key's
 * bit is clear can only miss, and is skipped (bpf/lib/deny_fastpath.h):
 * a packet from an address no longer prefix covers probes each length in
 * the plan, and the longest (/32, thousands of workloads) misses at a
 * random bucket of a table of 256k: a cache miss per packet of a flood
 * from random sources. 2^20 bits (128 KiB, mostly cached) hold 100k keys
 * at ~10% false hits, which only cost the probe. */
#define ZS_IPCACHE_FILTER_BITS_LOG2 20
#define ZS_IPCACHE_FILTER_WORDS (1U << (ZS_IPCACHE_FILTER_BITS_LOG2 - 6))

ZS_INLINE __u32 zs_ipcache_filter_mix(__u32 h, __u32 w)
{
	h = (h ^ w) * 0x9e3779b1U;
	return h ^ (h >> 16);
}

/* The bit of key (family, prefix length and masked address; pad ignored). */
ZS_INLINE __u32 zs_ipcache_filter_bit(const struct zs_ipcache_key *key)
{
	__u32 h = (__u32)key->family << 8 | key->prefixlen;

	h = zs_ipcache_filter_mix(h, key->addr[0]);
	h = zs_ipcache_filter_mix(h, key->addr[1]);
	h = zs_ipcache_filter_mix(h, key->addr[2]);
	h = zs_ipcache_filter_mix(h, key->addr[3]);
	h *= 0x85ebca6bU;
	return h >> (32 - ZS_IPCACHE_FILTER_BITS_LOG2);
}

enum zs_family {
	ZS_FAMILY_IPV4 = 4,
	ZS_FAMILY_IPV6 = 6,
};

ZS_STATIC_ASSERT(sizeof(struct zs_ipcache_key) == 20, "zs_ipcache_key ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_ipcache_value) == 8, "zs_ipcache_value ABI");

#endif
