/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark floors: the cheapest programs a hook can run, and the same
 * with one conntrack lookup, the least an established packet can cost. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include <zeroseg/conntrack.h>
#include <zeroseg/proto.h>

/* zs_conntrack4's shape; the bench puts kFloorKey in it */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zs_ct_key4);
	__type(value, struct zs_ct_entry);
} zs_floor_ct SEC(".maps");

static __always_inline int zs_floor_lookup(__u32 ifindex)
{
	struct zs_ct_key4 key = {
		.ifindex = ifindex,
		.saddr = 0x0100000a,
		.daddr = 0x0200000a,
		.sport = 0x4000,
		.dport = 0x5000,
		.proto = ZS_PROTO_TCP,
	};

	return bpf_map_lookup_elem(&zs_floor_ct, &key) != NULL;
}

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

SEC("xdp")
int zs_floor_lookup_xdp(struct xdp_md *xdp)
{
	return zs_floor_lookup(xdp->ingress_ifindex) ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int zs_floor_lookup_tc(struct __sk_buff *skb)
{
	return zs_floor_lookup(skb->ifindex) ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
