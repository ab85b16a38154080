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

#endif
