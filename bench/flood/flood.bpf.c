/* SPDX-License-Identifier: Apache-2.0 */
/* The flood sender's programs (bench/flood/flood.c).
 *
 * zs_flood_tx runs through BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
 * on the sending veth: each run rewrites the template's source address and
 * port, then returns XDP_TX, which puts the frame on the wire (to the veth's
 * peer). Live frames keep a page's bytes from one run to the next, so every
 * field written here is written on every run.
 *
 * Paced (flood_gap_ns set): frames go in bursts of flood_burst, a burst
 * every flood_gap_ns; the first run of a burst spins until its time.
 * Unpaced, the sender sends as fast as it can, and what the receiver's
 * ring cannot hold the sender frees into the pool the receiver returns its
 * frames to, under the same lock (bench/RESULTS.md, perf13): paced at a
 * rate the receiver takes, that contention is gone.
 *
 * zs_flood_pass and zs_flood_drop sit on a receiving veth: a veth has NAPI
 * (and so takes XDP_TX frames at all) only with an XDP program attached;
 * zs_flood_touch_* (below) are the floor and N cache lines touched. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Set by the sender before load. */
const volatile __u8 flood_ipv6;
const volatile __u8 flood_random;   /* random sources, else cycle over the flows */
const volatile __u32 flood_sources; /* how many source addresses (>= 1) */
const volatile __u32 flood_ports;   /* how many source ports (>= 1) */
const volatile __u32 flood_src_base; /* host order: the last word of the source */
const volatile __u16 flood_sport_base;
const volatile __u64 flood_gap_ns;  /* ns between bursts; 0: unpaced */
const volatile __u32 flood_burst;   /* frames a burst (>= 1) */

/* live frames run on the sender's one CPU: plain state will do */
__u32 flood_next;         /* the next flow */
__u32 flood_rand = 2463534242; /* xorshift32: a helper call per packet cost 30% */
__u64 flood_sent;         /* frames returned XDP_TX: read by flood.c between runs */
__u64 flood_due_ns;       /* paced: when the next burst may start */
__u32 flood_burst_left;   /* paced: frames left in this burst */
__u64 flood_first_ns, flood_last_ns; /* paced: the first and the last burst's start */
__u64 flood_restarts;     /* paced: bursts started late by more than 4 gaps */

static __always_inline __u16 flood_ip_csum(const __u16 *h)
{
	__u32 sum = 0;
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 10; i++)
		if (i != 5) /* the checksum's own word */
			sum += h[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static long flood_spin(__u64 index, void *ctx)
{
	(void)index;
	(void)ctx;
	return bpf_ktime_get_ns() >= flood_due_ns; /* 1 stops the loop */
}

/* paced: wait (spinning in the program) until this run's frame is due.
 * Spinning, not XDP_DROP for the runs between bursts: a dropped live
 * frame goes back to the pool without the direct cache, and runs that
 * dropped stalled the sender for milliseconds at a time (3-4x below the
 * rate asked for). */
static __always_inline void flood_pace(void)
{
	__u64 now;

	if (!flood_gap_ns)
		return;
	if (flood_burst_left) {
		flood_burst_left--;
		return;
	}
	now = bpf_ktime_get_ns();
	if (now < flood_due_ns) {
		bpf_loop(1 << 23, flood_spin, NULL, 0);
		now = flood_due_ns;
	}
	/* behind by more than a few bursts and 50 us (the sender was
	 * preempted: here it stalls for ms at a time on a loaded machine, or
	 * it was asked for more than it can send): start over from now rather
	 * than catch up in one long burst the ring cannot hold. The rate asked
	 * for is then the spacing while the sender runs; flood.c reports the
	 * average it reached beside it. */
	if (now - flood_due_ns > 4 * flood_gap_ns && now - flood_due_ns > 50000) {
		flood_restarts++;
		flood_due_ns = now + flood_gap_ns;
	} else {
		flood_due_ns += flood_gap_ns;
	}
	flood_burst_left = flood_burst - 1;
	if (!flood_first_ns)
		flood_first_ns = now;
	flood_last_ns = now;
}

SEC("xdp")
int zs_flood_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 src, sport;
	struct udphdr *udp;

	flood_pace();
	if (flood_random) {
		__u32 r = flood_rand;

		r ^= r << 13;
		r ^= r >> 17;
		r ^= r << 5;
		flood_rand = r;
		/* powers of two (the usual 65536) without a division */
		src = flood_sources & (flood_sources - 1) ? r % flood_sources
							   : r & (flood_sources - 1);
		r = r >> 16 | r << 16;
		sport = flood_ports & (flood_ports - 1) ? r % flood_ports : r & (flood_ports - 1);
	} else {
		/* flow n: the n-th address and the n-th port, wrapped */
		__u32 n = flood_next;

		flood_next = n + 1 == flood_sources ? 0 : n + 1;
		src = n;
		sport = flood_ports == 1 ? 0 : n % flood_ports;
	}
	src += flood_src_base;
	sport += flood_sport_base;

	if (flood_ipv6) {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		if ((void *)(ip6 + 1) + sizeof(*udp) > end)
			return XDP_ABORTED;
		udp = (void *)(ip6 + 1);
		ip6->saddr.in6_u.u6_addr32[3] = bpf_htonl(src);
		udp->source = bpf_htons(sport);
		udp->check = 0; /* no one reads it before the filters drop */
		flood_sent++;
		return XDP_TX;
	}
	{
		struct iphdr *ip = data + sizeof(struct ethhdr);

		if ((void *)(ip + 1) + sizeof(*udp) > end)
			return XDP_ABORTED;
		udp = (void *)(ip + 1);
		ip->saddr = bpf_htonl(src);
		/* valid: the IP layer drops a bad checksum before netfilter,
		 * which would make its rows look cheaper than they are */
		ip->check = flood_ip_csum((const __u16 *)ip);
		udp->source = bpf_htons(sport);
		udp->check = 0;
	}
	flood_sent++;
	return XDP_TX;
}

SEC("xdp")
int zs_flood_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

SEC("xdp")
int zs_flood_drop(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

/* zs_flood_touch_maps and zs_flood_touch_lines: XDP_DROP after an
 * increment of one __u64 in each of flood_touch per-CPU maps, or in
 * flood_touch cache lines of one per-CPU map. What a line costs a packet
 * on the receiving path, and what it costs more in a map of its own (its
 * own per-CPU allocation, and the map's pointer to it). */
const volatile __u32 flood_touch; /* <= FLOOD_TOUCH_MAX */

#define FLOOD_TOUCH_MAX 16
struct flood_line {
	__u64 n;
	__u64 pad[7];
};
struct flood_lines {
	struct flood_line line[FLOOD_TOUCH_MAX];
};
#define FLOOD_TOUCH_MAP(name)                                                                      \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, struct flood_line);                                                  \
	} name SEC(".maps")
FLOOD_TOUCH_MAP(flood_touch0);
FLOOD_TOUCH_MAP(flood_touch1);
FLOOD_TOUCH_MAP(flood_touch2);
FLOOD_TOUCH_MAP(flood_touch3);
FLOOD_TOUCH_MAP(flood_touch4);
FLOOD_TOUCH_MAP(flood_touch5);
FLOOD_TOUCH_MAP(flood_touch6);
FLOOD_TOUCH_MAP(flood_touch7);
FLOOD_TOUCH_MAP(flood_touch8);
FLOOD_TOUCH_MAP(flood_touch9);
FLOOD_TOUCH_MAP(flood_touch10);
FLOOD_TOUCH_MAP(flood_touch11);
FLOOD_TOUCH_MAP(flood_touch12);
FLOOD_TOUCH_MAP(flood_touch13);
FLOOD_TOUCH_MAP(flood_touch14);
FLOOD_TOUCH_MAP(flood_touch15);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flood_lines);
} flood_touch_one SEC(".maps");

static __always_inline void flood_touch_map(void *map, __u32 i)
{
	__u32 zero = 0;
	struct flood_line *l;

	if (i >= flood_touch)
		return;
	l = bpf_map_lookup_elem(map, &zero);
	if (l)
		l->n++;
}

SEC("xdp")
int zs_flood_touch_maps(struct xdp_md *ctx)
{
	(void)ctx;
	flood_touch_map(&flood_touch0, 0);
	flood_touch_map(&flood_touch1, 1);
	flood_touch_map(&flood_touch2, 2);
	flood_touch_map(&flood_touch3, 3);
	flood_touch_map(&flood_touch4, 4);
	flood_touch_map(&flood_touch5, 5);
	flood_touch_map(&flood_touch6, 6);
	flood_touch_map(&flood_touch7, 7);
	flood_touch_map(&flood_touch8, 8);
	flood_touch_map(&flood_touch9, 9);
	flood_touch_map(&flood_touch10, 10);
	flood_touch_map(&flood_touch11, 11);
	flood_touch_map(&flood_touch12, 12);
	flood_touch_map(&flood_touch13, 13);
	flood_touch_map(&flood_touch14, 14);
	flood_touch_map(&flood_touch15, 15);
	return XDP_DROP;
}

SEC("xdp")
int zs_flood_touch_lines(struct xdp_md *ctx)
{
	__u32 zero = 0, i;
	struct flood_lines *l = bpf_map_lookup_elem(&flood_touch_one, &zero);

	(void)ctx;
	if (!l)
		return XDP_DROP;
#pragma clang loop unroll(full)
	for (i = 0; i < FLOOD_TOUCH_MAX; i++)
		if (i < flood_touch)
			l->line[i].n++;
	return XDP_DROP;
}

/* The IPv4 header of a frame that is UDP to port 9 (the flood's), read
 * through its Ethernet, IPv4 and UDP headers; NULL for any other frame. */
static __always_inline struct iphdr *flood_udp9(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != 17 /* UDP */ || udp->dest != bpf_htons(9))
		return NULL;
	return ip;
}

/* zs_flood_touch_packet: XDP_DROP for UDP to port 9, XDP_PASS for anything
 * else: the least a filter reads of a packet (the sender wrote the frame
 * on the other core). */
SEC("xdp")
int zs_flood_touch_packet(struct xdp_md *ctx)
{
	return flood_udp9(ctx) ? XDP_DROP : XDP_PASS;
}

/* zs_flood_lpm_deny: a stateless CIDR filter, as a prefilter for an
 * uplink would be: UDP to port 9 (the zeroseg rows' deny: a CIDR and a
 * port) whose IPv4 source's longest match in an LPM trie says deny (the
 * attach fills it: N /32s, as veth_deny.sh's N allow rules, and
 * 198.18.0.0/15 to deny) is dropped. No counter, no event. */
struct flood_lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct flood_lpm_key);
	__type(value, __u32); /* 1: deny */
} flood_lpm SEC(".maps");

SEC("xdp")
int zs_flood_lpm_deny(struct xdp_md *ctx)
{
	struct iphdr *ip = flood_udp9(ctx);
	struct flood_lpm_key key = { .prefixlen = 32 };
	__u32 *deny;

	if (!ip)
		return XDP_PASS;
	key.addr = ip->saddr;
	deny = bpf_map_lookup_elem(&flood_lpm, &key);
	return deny && *deny ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
