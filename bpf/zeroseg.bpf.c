/* SPDX-License-Identifier: Apache-2.0 */
/* zeroseg's datapath entry points: one per hook, all sharing bpf/lib and
 * the maps in bpf/lib/maps.h. */
#include <linux/pkt_cls.h>

#include "lib/pipeline.h"
#include "lib/tc_pull.h"

SEC("xdp")
int zs_xdp_ingress(struct xdp_md *xdp)
{
	struct zs_ctx ctx = {
		.data = (void *)(long)xdp->data,
		.data_end = (void *)(long)xdp->data_end,
		.ifindex = xdp->ingress_ifindex,
		.hook = ZS_HOOK_XDP,
	};
	int untracked = zs_untracked_xdp(xdp);

	/* a packet the early look dropped returns here, not in zs_datapath:
	 * there the compiler put the config lookup and the packet's zeroing
	 * before the check (bench/RESULTS.md, "the early look's drop returns
	 * first") */
	if (untracked == ZS_UNTRACKED_DROPPED)
		return XDP_DROP;
	ctx.len = ctx.data_end - ctx.data;
	return zs_datapath(&ctx, 0, untracked) == ZS_DROP ? XDP_DROP : XDP_PASS;
}

static __always_inline int zs_tc(struct __sk_buff *skb, __u8 hook)
{
	struct zs_ctx ctx;
	__u32 want = zs_tc_pull_len(skb);
	int untracked;

	if (want)
		bpf_skb_pull_data(skb, want);
	untracked = hook == ZS_HOOK_TC_EGRESS ? ZS_UNTRACKED_CLEAR : zs_untracked_skb(skb);
	if (untracked == ZS_UNTRACKED_DROPPED) /* (as in zs_xdp_ingress) */
		return TC_ACT_SHOT;
	ctx.data = (void *)(long)skb->data;
	ctx.data_end = (void *)(long)skb->data_end;
	ctx.ifindex = skb->ifindex;
	ctx.len = skb->len;
	ctx.hook = hook;
	return zs_datapath(&ctx, hook == ZS_HOOK_TC_EGRESS ? skb->ingress_ifindex : 0, untracked) == ZS_DROP ?
		       TC_ACT_SHOT :
		       TC_ACT_OK;
}

SEC("tc")
int zs_tc_ingress(struct __sk_buff *skb)
{
	return zs_tc(skb, ZS_HOOK_TC_INGRESS);
}

SEC("tc")
int zs_tc_egress(struct __sk_buff *skb)
{
	return zs_tc(skb, ZS_HOOK_TC_EGRESS);
}

/* Never attached: `zeroseg policy trace` runs it on a crafted packet as if
 * the packet arrived on (skb->mark == ZS_TRACE_ARRIVING) or left
 * (ZS_TRACE_LEAVING) interface skb->ifindex. */
SEC("tc")
int zs_tc_trace(struct __sk_buff *skb)
{
	struct zs_ctx ctx = {
		.data = (void *)(long)skb->data,
		.data_end = (void *)(long)skb->data_end,
		.ifindex = skb->ifindex,
		.len = skb->len,
		.hook = skb->mark == ZS_TRACE_LEAVING ? ZS_HOOK_TC_EGRESS : ZS_HOOK_TC_INGRESS,
	};

	return zs_trace_datapath(&ctx, skb->priority) == ZS_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
