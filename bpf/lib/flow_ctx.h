/* SPDX-License-Identifier: Apache-2.0 */
/* What the pipeline's slow paths carry about a packet beyond its headers:
 * its own header, so that the named parts of the pipeline (ct_charge.h)
 * can take it without pipeline.h. */
#ifndef ZS_BPF_FLOW_CTX_H
#define ZS_BPF_FLOW_CTX_H

#include "common.h"

/* What the slow paths need to know of the packet beyond its headers. */
struct zs_flow_ctx {
	__u64 now;       /* bpf_ktime_get_coarse_ns(): conntrack times */
	__u64 jiffies;   /* bpf_jiffies64() (see zs_clock) */
	__u64 generation; /* zs_config's, read once at entry: what judges */
	__u32 ifindex;
	__u32 len;
	__u32 subject;   /* the endpoint's identity */
	__u32 from_ifindex; /* tc egress: skb->ingress_ifindex, unforgeable; 0: sent by the host */
	__u8 hook;       /* zs_hook */
	__u8 direction;  /* of this packet, relative to the subject */
	__u8 slot;       /* generation & 1: the slot every lookup reads */
	__u8 mode[ZS_DIR_MAX];
	__u8 kind;       /* the endpoint's zs_attach_kind */
	__u8 pad[2];
};

#endif
