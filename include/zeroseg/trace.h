/* SPDX-License-Identifier: Apache-2.0 */
/* `zeroseg policy trace`: the agent runs zs_tc_trace, which shares the
 * datapath's parser and policy code, on a crafted packet
 * (BPF_PROG_TEST_RUN). The packet is judged as a new flow, never touches
 * conntrack, counters or events, and leaves its judgement in the zs_trace
 * map (per CPU). skb->mark says which way it goes, skb->priority is a
 * sequence number copied into the result. */
#ifndef ZEROSEG_TRACE_H
#define ZEROSEG_TRACE_H

#include "types.h"

#define ZS_TRACE_ARRIVING 1
#define ZS_TRACE_LEAVING 2

struct zs_trace_result {
	__u32 seq;       /* the caller's, from skb->priority */
	__u32 subject;
	__u32 peer;
	__u32 rule_id;
	__u8 verdict;    /* zs_verdict */
	__u8 reason;     /* zs_reason */
	__u8 direction;  /* zs_direction */
	__u8 mode;       /* the direction's zs_mode */
	__u32 pad;       /* per-CPU values are copied in 8-byte strides */
};

ZS_STATIC_ASSERT(sizeof(struct zs_trace_result) % 8 == 0, "per-CPU value stride");
ZS_STATIC_ASSERT(sizeof(struct zs_trace_result) == 24, "zs_trace_result ABI");

#endif
