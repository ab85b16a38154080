/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark floors: the cheapest programs a hook can run; the same
 * with one conntrack lookup, the least an established packet can cost; and
 * the least a new flow can cost, its flow found absent, stored and
 * reported, on the kernel's LRU hash and on an array of buckets. */
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

/* The fixed-offset parse of the new-flow floors (Ethernet + IPv4 or IPv6,
 * no options, + TCP) into key: 1 when the frame is one. */
static __always_inline int zs_floor_parse(void *data, void *data_end, struct zs_ct_key *key)
{
	struct ethhdr *eth = data;
	struct zs_tuple *t = &key->tuple;
	struct tcphdr *tcp;

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
	return 1;
}

/* A new flow's record in the floors' ring. */
static __always_inline void zs_floor_record(const struct zs_ct_key *key, __u64 now)
{
	struct zs_event *ev = bpf_ringbuf_reserve(&zs_floor_events, sizeof(*ev), 0);

	if (!ev)
		return;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = now;
	ev->type = ZS_EVENT_FLOW_NEW;
	ev->ifindex = key->ifindex;
	ev->tuple = key->tuple;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}

/* The new-flow floor: what any stateful filter that logs flows pays for a
 * new TCP flow, and no more: the flow looked up and not found, stored
 * (an LRU insert), and a record of it in a ring. No policy, no checks, a
 * fixed-offset parse. */
static __always_inline int zs_floor_new_flow(void *data, void *data_end, __u32 ifindex)
{
	struct zs_ct_entry entry = {};
	struct zs_ct_key key = { .ifindex = ifindex };
	struct zs_tuple *t = &key.tuple;
	void *ct;

	if (!zs_floor_parse(data, data_end, &key))
		return 0;
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
	if (!ct)
		zs_floor_record(&key, entry.last_seen_ns);
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

/* The new-flow floor on an array of buckets: the same work as
 * zs_floor_new_flow (the flow looked up and not found, stored, recorded,
 * the same clock read) on a fixed array of 4-way buckets written in
 * place, to tell what a new flow's cost owes to the kernel's hash maps
 * from what it owes to memory. A flow hashes to a bucket: a line of four
 * ways' tags and ages; its key and entry go in its way's slot of
 * zs_floor_slots. No allocation, no lists, no helper call to look up (the
 * verifier inlines an array's), one compare-and-swap to claim a way (the
 * oldest, to the microsecond). Both arrays are mmapable, which puts their
 * values on a page boundary: a bucket is one cache line. The bench sets
 * how many buckets are used (zs_floor_bucket_mask + 1: how far the flows
 * spread) and whether a flow is stored and recorded or only its bucket's
 * way claimed (datapath_bench --new-flow-memory); zs_floor_bucket_claims
 * counts the claims, so the bench can tell that every flow was new. */
#define ZS_FLOOR_WAYS 4
#define ZS_FLOOR_BUCKETS (65536 / ZS_FLOOR_WAYS)

struct zs_floor_bucket {
	__u32 tag[ZS_FLOOR_WAYS];  /* the flow's hash | 1; 0: empty */
	__u32 seen[ZS_FLOOR_WAYS]; /* when the way was claimed (~1 us units; wraps in 73 min) */
	__u64 pad[4];              /* a line each */
};

struct zs_floor_slot {
	struct zs_ct_key key;
	struct zs_ct_entry entry;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ZS_FLOOR_BUCKETS);
	__type(key, __u32);
	__type(value, struct zs_floor_bucket);
} zs_floor_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ZS_FLOOR_BUCKETS * ZS_FLOOR_WAYS);
	__type(key, __u32);
	__type(value, struct zs_floor_slot);
} zs_floor_slots SEC(".maps");

__u32 zs_floor_bucket_mask = ZS_FLOOR_BUCKETS - 1; /* a power of 2, less 1 */
__u32 zs_floor_bucket_store = 1; /* 0: the bucket's way claimed, no more */
__u64 zs_floor_bucket_claims;    /* ways claimed (test_run: one CPU) */

static __always_inline int zs_floor_same_key(const struct zs_ct_key *a, const struct zs_ct_key *b)
{
	const __u64 *x = (const void *)a, *y = (const void *)b;
	__u64 d = 0;

	for (int i = 0; i < (int)(sizeof(*a) / 8); i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static __always_inline int zs_floor_new_flow_buckets(void *data, void *data_end, __u32 ifindex)
{
	struct zs_ct_key key = { .ifindex = ifindex };
	const __u64 *word = (const void *)&key;
	struct zs_floor_bucket *b;
	struct zs_floor_slot *s;
	__u32 tag, bi, si, way = 0, oldest = ~0U, old;
	__u64 h = 0, now;

	if (!zs_floor_parse(data, data_end, &key))
		return 0;
	for (int i = 0; i < (int)(sizeof(key) / 8); i++) {
		h = (h ^ word[i]) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	tag = (__u32)h | 1;
	bi = (__u32)(h >> 32) & zs_floor_bucket_mask & (ZS_FLOOR_BUCKETS - 1);
	b = bpf_map_lookup_elem(&zs_floor_buckets, &bi);
	if (!b)
		return 0;
	for (__u32 i = 0; i < ZS_FLOOR_WAYS; i++) {
		if (b->tag[i] == tag) {
			si = bi * ZS_FLOOR_WAYS + i;
			s = bpf_map_lookup_elem(&zs_floor_slots, &si);
			if (s && zs_floor_same_key(&s->key, &key))
				return 1; /* found: not a new flow */
		}
		if (b->seen[i] < oldest) {
			oldest = b->seen[i];
			way = i;
		}
	}
	way &= ZS_FLOOR_WAYS - 1;
	old = b->tag[way];
	if (__sync_val_compare_and_swap(&b->tag[way], old, tag) != old)
		return 1; /* another CPU claimed the way first */
	now = bpf_ktime_get_ns();
	b->seen[way] = (__u32)(now >> 10);
	zs_floor_bucket_claims++;
	if (!zs_floor_bucket_store)
		return 1;
	si = bi * ZS_FLOOR_WAYS + way;
	s = bpf_map_lookup_elem(&zs_floor_slots, &si);
	if (!s)
		return 1;
	s->key = key;
	__builtin_memset(&s->entry, 0, sizeof(s->entry));
	s->entry.last_seen_ns = now;
	zs_floor_record(&key, now);
	return 1;
}

SEC("xdp")
int zs_floor_new_flow_buckets_xdp(struct xdp_md *xdp)
{
	return zs_floor_new_flow_buckets((void *)(long)xdp->data, (void *)(long)xdp->data_end,
					 xdp->ingress_ifindex) ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int zs_floor_new_flow_buckets_tc(struct __sk_buff *skb)
{
	return zs_floor_new_flow_buckets((void *)(long)skb->data, (void *)(long)skb->data_end,
					 skb->ifindex) ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
