/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZS_BPF_IPCACHE_LOOKUP_H
#define ZS_BPF_IPCACHE_LOOKUP_H

#include "deny_fastpath.h"
#include "ipcache_memo.h"
#include "maps.h"
#include <zeroseg/identity.h>

static __always_inline __u32 zs_mask32(__u32 bits)
{
	/* bits in 0..32, returned in network order */
	return bits ? bpf_htonl(~0U << (32 - bits)) : 0;
}

/* key's identity in slot, 0 when absent. A global function, as
 * zs_ct_probes_for (deny_fastpath.h): the filter's map key would not fit
 * in zs_rejudge's frame. */
__attribute__((noinline)) __u32 zs_ipcache_probe(struct zs_ipcache_key *key, __u32 slot)
{
	struct zs_ipcache_value *val;

	if (!key || !zs_ipcache_may_hold(key))
		return 0; /* a miss, known without the probe */
	/* a key longer than the block looked up: another address of the
	 * block may have another answer (ipcache_memo.h) */
	if (key->prefixlen > zs_ipcache_memo_block_len(key->family))
		zs_ipcache_memo_unsure();
	val = bpf_map_lookup_elem(&zs_ipcache, key);
	return val ? val->identity[slot & 1] : 0;
}

/* Identity of addr: the longest prefix in the ipcache, else world. */
static __always_inline __u32 zs_ipcache_identity(const struct zs_lookup_plan *plan,
						 __u32 slot, __u8 family,
						 const __u32 *addr)
{
	struct zs_ipcache_key key = { .family = family };
	__u32 id, n = family == ZS_FAMILY_IPV4 ? plan->n_v4_plens : plan->n_v6_plens;
	__u32 i, w;

#pragma clang loop unroll(disable)
	for (i = 0; i < ZS_MAX_PREFIX_LENS; i++) {
		__u32 plen;

		if (i >= n)
			break;
		plen = family == ZS_FAMILY_IPV4 ? plan->v4_plens[i] : plan->v6_plens[i];
		key.prefixlen = plen;
#pragma clang loop unroll(full)
		for (w = 0; w < 4; w++) {
			__u32 bits = plen > w * 32 ? plen - w * 32 : 0;

			key.addr[w] = addr[w] & zs_mask32(bits > 32 ? 32 : bits);
		}
		id = zs_ipcache_probe(&key, slot);
		if (id)
			return id;
	}
	return ZS_ID_WORLD;
}

#endif
