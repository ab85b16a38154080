/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark floor: the cheapest programs a hook can run. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int zs_floor_xdp(struct xdp_md *xdp)
{
	(void)xdp;
	return XDP_PASS;
}

SEC("tc")
int zs_floor_tc(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
