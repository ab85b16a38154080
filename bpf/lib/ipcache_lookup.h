/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZS_BPF_IPCACHE_LOOKUP_H
#define ZS_BPF_IPCACHE_LOOKUP_H

#include "maps.h"
#include <zeroseg/identity.h>

static __always_inline __u32 zs_mask32(__u32 bits)
{
	/* bits in 0..32, returned in network order */
	return bits ? bpf_htonl(~0U << (32 - bits)) : 0;
}

/* Identity of addr: the longest prefix in the ipcache, else world. */
static __always_inline __u32 zs_ipcache_identity(const struct zs_lookup_plan *plan,
						 __u32 slot, __u8 family,
						 const __u32 *addr)
{
	struct zs_ipcache_key key = { .family = family };
	struct zs_ipcache_value *val;
	__u32 n = family == ZS_FAMILY_IPV4 ? plan->n_v4_plens : plan->n_v6_plens;
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
		val = bpf_map_lookup_elem(&zs_ipcache, &key);
		if (val && val->identity[slot & 1])
			return val->identity[slot & 1];
	}
	return ZS_ID_WORLD;
}

#endif
