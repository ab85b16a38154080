/* SPDX-License-Identifier: Apache-2.0 */
/* The deny events' table of sources (zs_deny_sources, maps.h): a slot for
 * each source one of whose denies was reported within a budget, where its
 * denies held back since that report are counted, and where, once its
 * bucket (zs_deny_ratelimit, an LRU hash) was found empty, its next denies
 * are held until its next token is due. Either way without a lookup of the
 * LRU: past the budget a flood from many sources paid one per packet to
 * find no bucket, and a flood from few sources one per packet to find an
 * empty one (issue 16).
 *
 * A slot answers for its own address only, compared whole: a source can
 * take another's slot (at its own report), never speak for it. The slot is
 * chosen by a multiply-shift hash of the address's four words and its
 * family under 64-bit odd multipliers drawn at the first claim, so that no one can
 * compute two sources of one slot to push a scanner out of its slot
 * before a scan (a hash of fixed mixing steps had such pairs whatever its
 * seed: a flipped top bit of one word, cancelled in the next; attack
 * review of session 26). A source that takes a slot hands the held count
 * of the one before it to that one's bucket, for its next report. */
#ifndef ZS_BPF_DENY_SOURCES_H
#define ZS_BPF_DENY_SOURCES_H

#include "maps.h"

static __always_inline __u32 zs_deny_source_index(const struct zs_deny_sources *d,
						  const struct zs_deny_source_key *k)
{
	__u64 h = d->key[0] * k->addr[0] + d->key[1] * k->addr[1] + d->key[2] * k->addr[2] +
		  d->key[3] * k->addr[3] + d->key[4] * k->family;

	return h >> (64 - ZS_DENY_SOURCE_BITS);
}

static __always_inline int zs_deny_source_is(const struct zs_deny_source_slot *s,
					     const struct zs_deny_source_key *k)
{
	return s->known && s->family == k->family && s->saddr[0] == k->addr[0] &&
	       s->saddr[1] == k->addr[1] && s->saddr[2] == k->addr[2] && s->saddr[3] == k->addr[3];
}

/* The slot of source k, or NULL when no slot is its. */
static __always_inline struct zs_deny_source_slot *
zs_deny_source_find(const struct zs_deny_source_key *k)
{
	__u32 zero = 0;
	struct zs_deny_sources *d = bpf_map_lookup_elem(&zs_deny_sources, &zero);
	struct zs_deny_source_slot *s;

	if (!d || !d->key[0])
		return NULL;
	s = &d->slot[zs_deny_source_index(d, k)];
	return zs_deny_source_is(s, k) ? s : NULL;
}

/* Whether s still holds its source at now: its hold is not over, and ends
 * within a second (the longest a token takes at a rate of 1/s or more; a
 * hold taken before the rate rose, or from a clock ahead of this CPU's,
 * ends within one). */
static __always_inline int zs_deny_source_held(const struct zs_deny_source_slot *s, __u64 now)
{
	__u64 until = s->held_until;

	return until > now && until - now <= ZS_NS_PER_SEC;
}

/* The hash's multipliers, drawn once (key[0] last: it says they are
 * there). Two CPUs drawing at once leave a mix of both draws, as random. */
static __always_inline void zs_deny_sources_draw(struct zs_deny_sources *d)
{
	d->key[4] = ((__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32()) | 1;
	d->key[1] = ((__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32()) | 1;
	d->key[2] = ((__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32()) | 1;
	d->key[3] = ((__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32()) | 1;
	d->key[0] = ((__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32()) | 1;
}

/* Claims saddr's slot for it, one of its denies reported (within a
 * budget): returns its denies held in the slot since its last report, the
 * count emptied (an exchange: another CPU may count there meanwhile), and
 * ends its hold (the report took a token; more may be there). A slot
 * another source held is taken over: that source's held count goes to its
 * bucket, which its next report reads (lost only when the LRU evicted that
 * too; the count stays in events-suppressed). */
static __always_inline __u32 zs_deny_source_claim(const struct zs_deny_source_key *k)
{
	__u32 zero = 0, held;
	struct zs_deny_sources *d = bpf_map_lookup_elem(&zs_deny_sources, &zero);
	struct zs_deny_source_key before = {};
	struct zs_deny_source_slot *s;
	struct zs_ratelimit *rl;

	if (!d)
		return 0;
	if (!d->key[0])
		zs_deny_sources_draw(d);
	s = &d->slot[zs_deny_source_index(d, k)];
	s->held_until = 0;
	if (zs_deny_source_is(s, k)) {
		held = s->suppressed;
		return held ? __sync_lock_test_and_set(&s->suppressed, 0) : 0;
	}
	held = s->suppressed ? __sync_lock_test_and_set(&s->suppressed, 0) : 0;
	if (held && s->known) {
		__builtin_memcpy(before.addr, s->saddr, sizeof(before.addr));
		before.family = s->family;
		rl = bpf_map_lookup_elem(&zs_deny_ratelimit, &before);
		if (rl)
			__sync_fetch_and_add(&rl->suppressed, held);
	}
	/* (no barrier: a reader racing the takeover may count one deny for
	 * the wrong source, a hint's race) */
	s->known = 0;
	__builtin_memcpy(s->saddr, k->addr, sizeof(s->saddr));
	s->family = k->family;
	s->known = 1;
	return 0;
}

#endif
