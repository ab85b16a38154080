/* SPDX-License-Identifier: Apache-2.0 */
/* Basic fixed-width types for headers shared by the BPF programs and the
 * agent. The kernel side gets them from vmlinux-free <linux/types.h>. */
#ifndef ZEROSEG_TYPES_H
#define ZEROSEG_TYPES_H

#include <linux/types.h>

#ifdef __cplusplus
#define ZS_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define ZS_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Helpers in these headers. In BPF programs they must be always inlined:
 * spelled out as <bpf/bpf_helpers.h> defines __always_inline, because
 * <linux/stddef.h>'s is a mere __inline__ and either may come first. */
#ifdef __cplusplus
#define ZS_INLINE static inline
#else
#define ZS_INLINE static inline __attribute__((always_inline))
#endif

/* Network order for what both sides share (bpf_endian.h and arpa/inet.h
 * are each one side's): 16 bits to it, 32 bits from it; each its own
 * inverse. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ZS_SWAP_ON_LE(bits, v) __builtin_bswap##bits(v)
#else
#define ZS_SWAP_ON_LE(bits, v) (v)
#endif

ZS_INLINE __u16 zs_htons(__u16 v)
{
	return ZS_SWAP_ON_LE(16, v);
}

ZS_INLINE __u32 zs_ntohl(__u32 v)
{
	return ZS_SWAP_ON_LE(32, v);
}

#define ZS_NS_PER_SEC 1000000000ULL

/* Directions are relative to the subject endpoint (the workload or host the
 * policy protects), never to the interface. */
enum zs_direction {
	ZS_DIR_INGRESS = 0, /* towards the subject */
	ZS_DIR_EGRESS = 1,  /* from the subject */
	ZS_DIR_MAX = 2,
};

#endif
