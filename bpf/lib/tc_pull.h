/* SPDX-License-Identifier: Apache-2.0 */
/* What a tc program pulls into the skb's linear part before the parse:
 * zs_parse reads the headers by direct access, which sees only that part.
 *
 * zs_tc pulled the first 256 bytes (or the packet, if shorter) of every
 * skb whose linear part was shorter. A TCP skb of a local stack, or GRO's,
 * has its headers linear and its payload in pages, so every packet of a
 * TCP stream through a node was pulled: 256 bytes of payload moved into
 * the head, after a copy of the head where it had no room at its tail or
 * was cloned (pskb_expand_head): ~0.5% of the CPU of the
 * path, a sixth of what zeroseg costs there (bench/RESULTS.md, issue 16).
 *
 * So an untagged TCP packet whose IP header (IPv4 of any length, IPv6
 * with no extension header) and the first 20 bytes of its TCP header are
 * linear is parsed as it is: those are all the bytes zs_parse reads of it
 * (the ports and the flags: zs_parse_l4; a later fragment, the IP header
 * alone), and a pull moves bytes, never changes them, so the parse's
 * result is the one it had after the pull. Every other packet is pulled
 * as before: what the parser reads of it (VLAN tags, extension headers,
 * ICMP errors' quotes) is not worked out here.
 * tests/e2e/paged_headers.sh sends TCP with its headers in pages. */
#ifndef ZS_BPF_TC_PULL_H
#define ZS_BPF_TC_PULL_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

#include "common.h"

/* Headers a tc program needs in the linear part of the skb. */
#define ZS_TC_PULL_LEN 256

/* 1 when skb is an untagged TCP packet whose headers zs_parse reads are
 * all in the linear part (above). */
static __always_inline int zs_tc_tcp_headers_linear(const struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 hlen;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return 0;
		hlen = ip->ihl * 4;
		return hlen >= sizeof(*ip) &&
		       (void *)ip + hlen + sizeof(struct tcphdr) <= end;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		return (void *)(ip6 + 1) + sizeof(struct tcphdr) <= end &&
		       ip6->nexthdr == IPPROTO_TCP;
	}
	return 0;
}

/* How much of skb to pull before the parse; 0: nothing. */
static __always_inline __u32 zs_tc_pull_len(const struct __sk_buff *skb)
{
	__u32 want = skb->len < ZS_TC_PULL_LEN ? skb->len : ZS_TC_PULL_LEN;

	if (skb->data_end - skb->data >= want || zs_tc_tcp_headers_linear(skb))
		return 0;
	return want;
}

#endif
