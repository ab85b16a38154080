/* SPDX-License-Identifier: Apache-2.0 */
/* Which sources may hold a deny-event bucket (issue 16).
 *
 * Past the per-CPU budget of deny events, a denied packet is still
 * counted in its source's bucket of zs_deny_ratelimit when the source has
 * one (zs_deny_over_budget, events.h: the source's next reported deny names
 * how many were suppressed, attack review 3). That lookup is a random key
 * of an LRU of 16k sources, a cache miss for a flood from random sources:
 * perf of the receiver on a veth put ~15% of its time in it, the largest
 * item of zeroseg's own (bench/RESULTS.md, 2026-12-02 session 13).
 *
 * zs_deny_holders has a bit per hash of every source a bucket was ever
 * made for, set before the bucket is inserted and never cleared: a clear
 * bit means "no bucket", exactly, and the lookup is skipped; a set bit
 * (the source's bucket, one since evicted, or another source's hash) costs
 * the lookup as before. So no count, suppressed figure or event changes.
 * Bits of evicted buckets stay set: under a flood from random sources the
 * budget admits ~2000 new buckets a second per CPU, and the share of set
 * bits grows with them (1 - e^(-n / 2^20) after n buckets: ~11% after a
 * minute of one CPU's budget, ~44% after five); the saving shrinks with
 * it, the figures stay exact. Over a zs_deny_ratelimit pinned by a version
 * without this map, the loader sets every bit (its buckets set none). */
#ifndef ZS_BPF_DENY_HOLDERS_H
#define ZS_BPF_DENY_HOLDERS_H

#include "maps.h"

/* The bit of source address saddr (16 bytes, as zs_deny_ratelimit keys). */
static __always_inline __u32 zs_deny_holder_bit(const __u32 *saddr)
{
	__u32 h = saddr[0] * 0x9e3779b1U;

	h = (h ^ (h >> 16) ^ saddr[1]) * 0x85ebca6bU;
	h = (h ^ (h >> 13) ^ saddr[2]) * 0xc2b2ae35U;
	h = (h ^ (h >> 16) ^ saddr[3]) * 0x9e3779b1U;
	return h >> (32 - ZS_DENY_HOLDERS_BITS_LOG2);
}

/* 0 when zs_deny_ratelimit holds no bucket for saddr. */
static __always_inline int zs_deny_may_hold(const __u32 *saddr)
{
	__u32 bit = zs_deny_holder_bit(saddr), idx = bit >> 6;
	const __u64 *w = bpf_map_lookup_elem(&zs_deny_holders, &idx);

	return !w || (*w >> (bit & 63) & 1);
}

/* Before a bucket for saddr is inserted into zs_deny_ratelimit. */
static __always_inline void zs_deny_holder_mark(const __u32 *saddr)
{
	__u32 bit = zs_deny_holder_bit(saddr), idx = bit >> 6;
	__u64 *w = bpf_map_lookup_elem(&zs_deny_holders, &idx);
	__u64 mask = 1ULL << (bit & 63);

	if (w && !(*w & mask))
		__sync_fetch_and_or(w, mask);
}

#endif
