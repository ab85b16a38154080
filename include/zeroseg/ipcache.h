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

ZS_STATIC_ASSERT(sizeof(struct zs_ipcache_key) == 20, "zs_ipcache_key ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_ipcache_value) == 8, "zs_ipcache_value ABI");

#endif
