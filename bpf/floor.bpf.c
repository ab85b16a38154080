/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark floors: the cheapest programs a hook can run, and the same
 * with one conntrack lookup, the least an established packet can cost; and
 * a bare stateless CIDR filter, the peer of an uplink's untracked deny. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
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

/* zs_floor_lpm_xdp's trie: an IPv4 source's longest match, 1 to deny
 * (as bench/flood's lpm-deny, veth_deny.sh's xdp-lpm-deny row, whose
 * program also checks udp/9) */
struct zs_floor_lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct zs_floor_lpm_key);
	__type(value, __u32);
} zs_floor_lpm SEC(".maps");

/* An IPv4 frame dropped when its source's longest match says deny: the
 * least an untracked deny can cost (no counters, no event, no modes). */
SEC("xdp")
int zs_floor_lpm_xdp(struct xdp_md *xdp)
{
	void *data = (void *)(long)xdp->data, *data_end = (void *)(long)xdp->data_end;
	struct zs_floor_lpm_key key = { .prefixlen = 32 };
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 *deny;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	key.addr = ip->saddr;
	deny = bpf_map_lookup_elem(&zs_floor_lpm, &key);
	return deny && *deny ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
