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

enum zs_family {
	ZS_FAMILY_IPV4 = 4,
	ZS_FAMILY_IPV6 = 6,
};

/* ipcache_blocks (array of __u64, mmapped by the agent): a filter of the
 * keys the ipcache has held since the map was made, set by the agent
 * before a key is written and never cleared. A probe whose key's bit is
 * clear can only miss, and is skipped (bpf/lib/deny_fastpath.h): a packet
 * from an address no longer prefix covers probes each length in the plan,
 * and the longest (/32, thousands of workloads) misses at a random bucket
 * of a table of 256k: a cache miss per packet of a flood from random
 * sources. A false hit only costs the probe.
 *
 * Where a key's bit is (zs_ipcache_filter_bit):
 *  - a key of /16 (IPv4) or /48 (IPv6) and shorter: word and bit from a
 *    hash of the whole key, a bit per key (2^20 bits, 128 KiB);
 *  - a longer key, by block: its word from a hash of its family, length
 *    and /16 (/48) block, its bit in the word from the address's next 6
 *    bits, so that the bit stands for the key's /22 (/54) and every key of
 *    that length in it. A flood from one /16 (or one /48: an IPv6 host may
 *    send from any address of its /64) reads one word per prefix length,
 *    which stays in cache, where a word per address drawn at random missed
 *    it at nearly every packet (issue 16; bench/RESULTS.md, "The deny path
 *    from one block"). The price: an address in the /22 (/54) of a key of
 *    that length is a false hit, and so is every address of a /16 whose
 *    64 /22s all hold keys (a /16 of workloads). A flood spread over all
 *    of IPv4 still reads a word drawn at random per packet.
 * The layout changed once: the map was zs_ipcache_filter, a bit per key
 * of every length; renamed, so that no version reads the other's. */
#define ZS_IPCACHE_FILTER_BITS_LOG2 20
#define ZS_IPCACHE_FILTER_WORDS (1U << (ZS_IPCACHE_FILTER_BITS_LOG2 - 6))
#define ZS_IPCACHE_BLOCK4_LEN 16  /* an IPv4 key longer than this: its word by its /16 */
#define ZS_IPCACHE_BLOCK6_LEN 48  /* an IPv6 key longer than this: its word by its /48 */
#define ZS_IPCACHE_BLOCK_BIT_SHIFT 10 /* the 6 bits after the block: /22, /54 */

ZS_INLINE __u32 zs_ipcache_filter_mix(__u32 h, __u32 w)
{
	h = (h ^ w) * 0x9e3779b1U;
	return h ^ (h >> 16);
}

/* A block's key: word from h (the block's hash), bit from the 32 address
 * bits (host order) whose top 16 are the block's last. */
ZS_INLINE __u32 zs_ipcache_block_bit(__u32 h, __u32 word)
{
	h *= 0x85ebca6bU;
	return (h >> (32 - ZS_IPCACHE_FILTER_BITS_LOG2 + 6)) << 6 |
	       ((word >> ZS_IPCACHE_BLOCK_BIT_SHIFT) & 63);
}

/* The bit of key (family, prefix length and masked address; pad ignored)
 * in ipcache_blocks: its word's index << 6 | its bit in the word. */
ZS_INLINE __u32 zs_ipcache_filter_bit(const struct zs_ipcache_key *key)
{
	__u32 h = (__u32)key->family << 8 | key->prefixlen;
	__u32 a0 = zs_ntohl(key->addr[0]), a1 = zs_ntohl(key->addr[1]);

	if (key->family == ZS_FAMILY_IPV4 && key->prefixlen > ZS_IPCACHE_BLOCK4_LEN)
		return zs_ipcache_block_bit(zs_ipcache_filter_mix(h, a0 >> 16), a0);
	if (key->family == ZS_FAMILY_IPV6 && key->prefixlen > ZS_IPCACHE_BLOCK6_LEN)
		return zs_ipcache_block_bit(zs_ipcache_filter_mix(zs_ipcache_filter_mix(h, a0), a1 >> 16), a1);
	h = zs_ipcache_filter_mix(h, key->addr[0]);
	h = zs_ipcache_filter_mix(h, key->addr[1]);
	h = zs_ipcache_filter_mix(h, key->addr[2]);
	h = zs_ipcache_filter_mix(h, key->addr[3]);
	h *= 0x85ebca6bU;
	return h >> (32 - ZS_IPCACHE_FILTER_BITS_LOG2);
}

ZS_STATIC_ASSERT(sizeof(struct zs_ipcache_key) == 20, "zs_ipcache_key ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_ipcache_value) == 8, "zs_ipcache_value ABI");

#endif
