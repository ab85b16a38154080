/* SPDX-License-Identifier: Apache-2.0 */
/* Denied flows, remembered per CPU (issue 16): a flow denied by policy is
 * not tracked, so each of its packets used to repeat the whole judgement
 * (ipcache probes, policy probes). A hit here answers with the verdict,
 * reason, rule and identities of the judgement it stores.
 *
 * A slot is valid only under the generation that judged it: every change
 * of policy, ipcache, endpoints or modes moves the generation on, and a
 * flow denied then allowed (or the reverse) is judged afresh by its next
 * packet. An explicit deny with an expiry is valid only until then. A deny
 * for want of conntrack room (zs_ct_share_room) is never stored: it can end
 * without a change.
 *
 * Direct-mapped, per CPU, overwritten on a collision: no lock, no LRU
 * bookkeeping, so a flood of random sources (which no cache helps) costs
 * a hash, a compare and a tag store per packet (below), where an LRU
 * insert took the LRU's locks.
 *
 * Every new flow probes the cache, allowed ones too, and a slot drawn at
 * random from 320 KiB is a cache miss: ~200 ns of a new allowed flow's
 * ~1 us (perf, bench/RESULTS.md). So each slot has a 16-bit tag of its
 * flow's hash in zs_deny_cache_tags (8 KiB per CPU, stays in cache),
 * written with the slot: a flow whose tag differs is no hit, and its slot
 * is not read. The tag only filters: a hit is still the slot's full
 * comparison, so a stale or colliding tag costs a slot read, never a
 * wrong verdict.
 *
 * A slot is written on a flow's second denied packet, not its first: the
 * first writes only its tag ("seen once"), and a denied flow whose tag is
 * already there takes the slot. A flood from random sources and ports
 * (every packet a flow of its own) then writes 2 bytes of the hot tags
 * per packet, never a random 80-byte slot (the largest cost left of such
 * a flood, perf: bench/RESULTS.md); a repeated flow is answered from its
 * third packet. A tag a flood overwrote costs the flow one more judgement:
 * its slot is not overwritten until another flow's tag is seen twice
 * there. */
#ifndef ZS_BPF_DENY_CACHE_H
#define ZS_BPF_DENY_CACHE_H

#include "events.h"
#include "maps.h"
#include "parse.h"
#include "policy_lookup.h"

static __always_inline __u32 zs_deny_cache_hash(__u32 ifindex, const struct zs_tuple *t)
{
	__u32 h = ifindex;

	h = zs_hash_mix(h, t->saddr[0]);
	h = zs_hash_mix(h, t->saddr[1] ^ t->saddr[2] ^ t->saddr[3]);
	h = zs_hash_mix(h, t->daddr[0]);
	h = zs_hash_mix(h, t->daddr[1] ^ t->daddr[2] ^ t->daddr[3]);
	return zs_hash_mix(h, (__u32)t->sport << 16 | t->dport);
}

/* A slot's index is the hash's low bits, its tag the high ones; 0 is no
 * flow's tag (an empty slot's). */
static __always_inline __u32 zs_deny_cache_slot_of(__u32 h)
{
	return h & (ZS_DENY_CACHE_SLOTS - 1);
}

static __always_inline __u16 zs_deny_cache_tag_of(__u32 h)
{
	return (__u16)(h >> 16) | 1;
}

static __always_inline struct zs_deny_cache_tags *zs_deny_cache_tags_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&zs_deny_cache_tags, &zero);
}

static __always_inline int zs_deny_cache_same(const struct zs_tuple *a, const struct zs_tuple *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* 1 when packet p of a new flow on ifindex, under generation, was denied
 * before: j and info then hold that judgement. */
static __always_inline int zs_deny_cache_hit(__u32 ifindex, __u8 hook, __u64 generation,
					     const struct zs_packet *p, struct zs_judgement *j,
					     struct zs_event_info *info)
{
	__u32 h = zs_deny_cache_hash(ifindex, &p->tuple), idx = zs_deny_cache_slot_of(h);
	struct zs_deny_cache_tags *tags = zs_deny_cache_tags_get();
	struct zs_deny_cache_slot *s;

	if (!tags || tags->tag[idx] != zs_deny_cache_tag_of(h))
		return 0;
	s = bpf_map_lookup_elem(&zs_deny_cache, &idx);
	if (!s || !s->generation || s->generation != generation || s->ifindex != ifindex ||
	    s->hook != hook || s->policy_port != p->policy_port ||
	    !zs_deny_cache_same(&s->tuple, &p->tuple))
		return 0;
	if (s->expires_tai && bpf_ktime_get_tai_ns() >= s->expires_tai)
		return 0;
	j->verdict = ZS_VERDICT_DENIED;
	j->reason = s->reason;
	j->rule_id = s->rule_id;
	info->subject = s->subject;
	info->peer = s->peer;
	info->direction = s->direction;
	return 1;
}

/* For a flow that policy denied: 1 when its tag is there already (its
 * second denial: zs_deny_cache_store fills its slot), else 0 and its tag
 * written (seen once: the slot on its next denial). */
static __always_inline int zs_deny_cache_seen_before(__u32 ifindex, const struct zs_packet *p)
{
	__u32 h = zs_deny_cache_hash(ifindex, &p->tuple), idx = zs_deny_cache_slot_of(h);
	struct zs_deny_cache_tags *tags = zs_deny_cache_tags_get();
	__u16 tag = zs_deny_cache_tag_of(h);

	if (!tags)
		return 0;
	if (tags->tag[idx] == tag)
		return 1;
	tags->tag[idx] = tag;
	return 0;
}

/* Remembers a flow that policy denied (j) under generation, on its second
 * denial (zs_deny_cache_seen_before). */
static __always_inline void zs_deny_cache_store(__u32 ifindex, __u8 hook, __u64 generation,
						const struct zs_packet *p,
						const struct zs_judgement *j,
						const struct zs_event_info *info)
{
	__u32 idx = zs_deny_cache_slot_of(zs_deny_cache_hash(ifindex, &p->tuple));
	struct zs_deny_cache_slot *s;

	s = bpf_map_lookup_elem(&zs_deny_cache, &idx);
	if (!s)
		return;
	s->tuple = p->tuple;
	s->generation = generation;
	s->expires_tai = j->expires_tai;
	s->ifindex = ifindex;
	s->rule_id = j->rule_id;
	s->subject = info->subject;
	s->peer = info->peer;
	s->policy_port = p->policy_port;
	s->reason = j->reason;
	s->direction = info->direction;
	s->hook = hook;
}

#endif
