/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark floors: the cheapest programs a hook can run; the same
 * with one conntrack lookup, the least an established packet can cost; and
 * the least a new flow can cost, its flow found absent, stored and
 * reported. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include <zeroseg/conntrack.h>
#include <zeroseg/event.h>
#include <zeroseg/map_sizes.h>
#include <zeroseg/proto.h>

/* zs_conntrack4's shape; the bench puts the key zs_floor_lookup looks
 * for in it (bench/datapath_bench_setup.cpp, Floors) */
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

/* zs_conntrack4's and zs_conntrack6's shapes (the bench sets their size
 * to the datapath's it measures beside them), and zs_events' */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zs_ct_key4);
	__type(value, struct zs_ct_entry);
} zs_floor_flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zs_ct_key);
	__type(value, struct zs_ct_entry);
} zs_floor_flows6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ZS_DEFAULT_EVENTS_BYTES);
} zs_floor_events SEC(".maps");

/* The new-flow floor: what any stateful filter that logs flows pays for a
 * new TCP flow, and no more: the flow looked up and not found, stored
 * (an LRU insert), and a record of it in a ring. No policy, no checks, a
 * fixed-offset parse (Ethernet + IPv4 or IPv6, no options, + TCP). */
static __always_inline int zs_floor_new_flow(void *data, void *data_end, __u32 ifindex)
{
	struct ethhdr *eth = data;
	struct zs_ct_entry entry = {};
	struct zs_ct_key key = { .ifindex = ifindex };
	struct zs_tuple *t = &key.tuple;
	struct tcphdr *tcp;
	struct zs_event *ev;
	void *ct;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		tcp = (void *)(ip + 1);
		if ((void *)(tcp + 1) > data_end)
			return 0;
		t->saddr[0] = ip->saddr;
		t->daddr[0] = ip->daddr;
		t->family = ZS_FAMILY_IPV4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		tcp = (void *)(ip6 + 1);
		if ((void *)(tcp + 1) > data_end)
			return 0;
		__builtin_memcpy(t->saddr, &ip6->saddr, 16);
		__builtin_memcpy(t->daddr, &ip6->daddr, 16);
		t->family = ZS_FAMILY_IPV6;
	} else {
		return 0;
	}
	t->sport = tcp->source;
	t->dport = tcp->dest;
	t->proto = ZS_PROTO_TCP;
	if (t->family == ZS_FAMILY_IPV4) {
		struct zs_ct_key4 k4 = {
			.ifindex = ifindex, .saddr = t->saddr[0], .daddr = t->daddr[0],
			.sport = t->sport, .dport = t->dport, .proto = t->proto,
		};

		ct = bpf_map_lookup_elem(&zs_floor_flows4, &k4);
		if (!ct) {
			entry.last_seen_ns = bpf_ktime_get_ns();
			bpf_map_update_elem(&zs_floor_flows4, &k4, &entry, BPF_NOEXIST);
		}
	} else {
		ct = bpf_map_lookup_elem(&zs_floor_flows6, &key);
		if (!ct) {
			entry.last_seen_ns = bpf_ktime_get_ns();
			bpf_map_update_elem(&zs_floor_flows6, &key, &entry, BPF_NOEXIST);
		}
	}
	if (ct)
		return 1;
	ev = bpf_ringbuf_reserve(&zs_floor_events, sizeof(*ev), 0);
	if (!ev)
		return 1;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = entry.last_seen_ns;
	ev->type = ZS_EVENT_FLOW_NEW;
	ev->ifindex = ifindex;
	ev->tuple = *t;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return 1;
}

SEC("xdp")
int zs_floor_new_flow_xdp(struct xdp_md *xdp)
{
	return zs_floor_new_flow((void *)(long)xdp->data, (void *)(long)xdp->data_end,
				 xdp->ingress_ifindex) ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int zs_floor_new_flow_tc(struct __sk_buff *skb)
{
	return zs_floor_new_flow((void *)(long)skb->data, (void *)(long)skb->data_end, skb->ifindex)
		       ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
