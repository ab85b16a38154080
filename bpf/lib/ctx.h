/* SPDX-License-Identifier: Apache-2.0 */
/* The context layer: everything the shared datapath needs from an XDP or a
 * tc program, gathered once at entry so bpf/lib never sees the hook type. */
#ifndef ZS_BPF_CTX_H
#define ZS_BPF_CTX_H

#include "common.h"
#include <zeroseg/event.h>

struct zs_ctx {
	void *data;
	void *data_end;
	__u32 ifindex;
	__u32 len;  /* whole packet, for byte counters */
	__u8 hook;  /* zs_hook */
};

enum zs_action {
	ZS_PASS = 0,
	ZS_DROP = 1,
};

/* Packets arriving on an interface (XDP, tc ingress) leave a workload behind
 * it but enter the host when the interface is the host's uplink. */
static __always_inline __u8 zs_hook_direction(__u8 hook, __u8 attach_kind)
{
	int arriving = hook != ZS_HOOK_TC_EGRESS;

	if (attach_kind == ZS_ATTACH_HOST)
		return arriving ? ZS_DIR_INGRESS : ZS_DIR_EGRESS;
	return arriving ? ZS_DIR_EGRESS : ZS_DIR_INGRESS;
}

#endif
