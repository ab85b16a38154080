/* SPDX-License-Identifier: Apache-2.0 */
/* A burst of new flows through BPF_PROG_TEST_RUN (datapath_bench
 * --new-flow-burst). test_run repeats one packet; these wrappers give each
 * repetition a source port of its own (the template's TCP source port plus
 * a counter that never repeats in a run) and tail-call the program under
 * test, zeroseg's or a floor, so every repetition is a new flow and the code
 * stays as warm as in a burst. The wrapper and the tail call cost the floor
 * and zeroseg alike; the difference is what a new flow costs in a burst.
 * The TCP checksum is left stale: no program under test reads it. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} zs_burst_xdp_target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} zs_burst_tc_target SEC(".maps");

/* Repetitions so far in this run (the bench zeroes it before a run and
 * checks it after), and the template's source port, read at the first
 * (whether test_run gives each repetition the packet afresh or not). */
__u32 zs_burst_reps;
__u16 zs_burst_base;

/* Writes the template's source port plus the counter into an Ethernet +
 * IPv4/IPv6 (no options, no extension headers) + TCP frame; 0 when it is
 * not one. */
static __always_inline int zs_burst_stamp(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct tcphdr *tcp;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		tcp = (void *)(eth + 1) + sizeof(struct iphdr);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		tcp = (void *)(eth + 1) + sizeof(struct ipv6hdr);
	else
		return 0;
	if ((void *)(tcp + 1) > data_end)
		return 0;
	if (zs_burst_reps == 0)
		zs_burst_base = bpf_ntohs(tcp->source);
	tcp->source = bpf_htons(zs_burst_base + (__u16)zs_burst_reps++);
	return 1;
}

SEC("xdp")
int zs_burst_xdp(struct xdp_md *xdp)
{
	if (!zs_burst_stamp((void *)(long)xdp->data, (void *)(long)xdp->data_end))
		return XDP_ABORTED;
	bpf_tail_call(xdp, &zs_burst_xdp_target, 0);
	return XDP_ABORTED;
}

SEC("tc")
int zs_burst_tc(struct __sk_buff *skb)
{
	if (!zs_burst_stamp((void *)(long)skb->data, (void *)(long)skb->data_end))
		return TC_ACT_SHOT;
	bpf_tail_call(skb, &zs_burst_tc_target, 0);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
