/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZEROSEG_POLICY_FORMS_H
#define ZEROSEG_POLICY_FORMS_H

#include "types.h"
#include "policy.h"

/* policy_filter (array of __u64, mmapped by the agent): a bit per *form*
 * of every policy key written since the map was made, set by the agent
 * before the key is written and never cleared (as ipcache_blocks,
 * ipcache.h). A key's form is the key without its peer, and whether the
 * peer is ZS_ID_ANY: (subject, direction, proto, port prefix, any-peer).
 *
 * Why (issue 16): a new flow probed every port prefix length of the plan
 * twice (its peer, any peer), each a random key of a table of up to
 * millions of entries, and first looked its peer up in the ipcache (another
 * random key of 100k+): a cache miss each, so a new flow from a random peer
 * cost 761 ns at 10 rules and 3736 ns at 1M (bench/RESULTS.md). The forms
 * are few (subjects x ports, not x peers) and their bits stay in cache:
 * a probe whose form's bit is clear can only miss and is skipped, and a
 * flow for which no specific-peer form is set (a port no rule names for
 * a peer: a scan, a flood to a closed port) is judged without its peer's
 * identity, which is then looked up only if an event or the deny cache
 * needs it (bpf/lib/lazy_peer.h). 2^20 bits (128 KiB) hold 100k forms at
 * ~10% false hits, which cost only the probe. */
#define ZS_POLICY_FILTER_BITS_LOG2 20
#define ZS_POLICY_FILTER_WORDS (1U << (ZS_POLICY_FILTER_BITS_LOG2 - 6))

ZS_INLINE __u32 zs_policy_form_mix(__u32 h, __u32 w)
{
	h = (h ^ w) * 0x9e3779b1U;
	return h ^ (h >> 16);
}

/* The bit of key's form (the peer only as any or not; pads ignored). */
ZS_INLINE __u32 zs_policy_form_bit(const struct zs_policy_key *key)
{
	__u32 h = (__u32)key->direction | (__u32)key->proto << 8 | (__u32)key->port_plen << 16 |
		  (key->peer == 0 ? 0U : 1U << 24);

	h = zs_policy_form_mix(h, key->subject);
	h = zs_policy_form_mix(h, key->port);
	h *= 0x85ebca6bU;
	return h >> (32 - ZS_POLICY_FILTER_BITS_LOG2);
}

#endif
