/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZS_BPF_COMMON_H
#define ZS_BPF_COMMON_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <zeroseg/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* A global (BPF-to-BPF) function: the verifier checks it once, not once
 * per state of every caller it would be inlined into. */
#define ZS_NOINLINE __attribute__((noinline))

/* Keeps clang from merging two map lookups of different maps into one call
 * whose map is picked by a branch: the verifier inlines a lookup only when
 * its call site always sees the same map, and calls the helper otherwise
 * (~10 ns on the established path). Put it after one of the two calls. */
#define zs_no_merge(v) asm volatile("" : "+r"(v))

/* One round of a 32-bit hash (murmur3's finalizer step): the per-CPU
 * memos and the deny cache (ipcache_memo.h, verdict_memo.h, deny_cache.h)
 * index by it. Not for a table an attacker may
 * aim at whatever the seed: a flipped top bit of one word passes a round
 * as a fixed difference, which the next word cancels (deny_sources.h). */
static __always_inline __u32 zs_hash_mix(__u32 h, __u32 w)
{
	h ^= w;
	h *= 0x85ebca6b;
	return h ^ (h >> 15);
}

#endif
