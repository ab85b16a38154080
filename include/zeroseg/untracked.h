/* SPDX-License-Identifier: Apache-2.0 */
/* Untracked deny: a prefilter for host uplinks (bpf/lib/untracked_deny.h).
 *
 * A SegmentPolicy ingressDeny rule marked `untracked: true` names source
 * CIDRs only. On the host endpoints the policy selects, a packet from such
 * a source is dropped first thing, before conntrack and every other
 * lookup: one trie lookup, whatever the packet is (a later fragment, an
 * IPv6 packet with extension headers, a reply to a flow the node opened).
 * That last is why it is opt-in, as Calico's doNotTrack and Cilium's
 * prefilter are: the node can no longer talk to those sources either.
 * On workload endpoints the same rule is an ordinary (tracked) deny.
 *
 * zs_untracked (an LPM trie) holds both slots' entries apart, the slot in
 * the key ahead of the prefix: packets look up slot (generation & 1). The
 * agent rewrites the other slot's, flips the generation, and once no
 * program runs with the old generation brings the old slot's to match.
 * (Slots in one value, as zs_source_prefixes has, would need a lookup
 * again for each longer entry absent in the slot: with excepts and
 * several policies, any number. A trie per slot cost ~45 ns a packet:
 * two maps at one call site are looked up through the helper's indirect
 * call, bench/RESULTS.md.) Key: (ifindex,
 * slot, family, prefix); the family byte keeps IPv4 and IPv6 prefixes
 * apart (the compiler gives each IPv4 rule a ::ffff: copy). Value: what
 * the longest match says.
 * Rules with `except`, and rules of several policies, compile to prefixes
 * whose longest match answers exactly (compile_untracked): an except is
 * an entry that passes. */
#ifndef ZEROSEG_UNTRACKED_H
#define ZEROSEG_UNTRACKED_H

#include "types.h"
#include "slots.h"

enum zs_untracked_action {
	ZS_UNTRACKED_PASS = 0,  /* an except (or not covered): on to the pipeline */
	ZS_UNTRACKED_DENY = 1,  /* dropped where the uplink's ingress enforces */
	ZS_UNTRACKED_AUDIT = 2, /* an audit policy's: reported, passed on */
};

struct zs_untracked_key {
	__u32 prefixlen; /* ZS_UNTRACKED_KEY_BITS + the prefix's length */
	__u32 ifindex;
	__u8 slot;       /* ZS_SLOTS: whose generation's */
	__u8 family;     /* zs_family */
	__u8 pad[2];
	__u32 addr[4];   /* network order; IPv4 in addr[0], rest 0 */
};

/* the key's bits before the address: ifindex, slot, family and pad (0) */
#define ZS_UNTRACKED_KEY_BITS 64

struct zs_untracked_value {
	__u32 rule_id;   /* the rule that decided; 0 for a pass */
	__u8 action;     /* zs_untracked_action */
	__u8 prefixlen;  /* the key's (past 255: its low bits), so that the
			  * agent tells its own entry from a covering one */
	__u8 pad[2];
};

ZS_STATIC_ASSERT(sizeof(struct zs_untracked_key) == 28, "zs_untracked_key ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_untracked_value) == 8, "zs_untracked_value ABI");

#endif
