/* SPDX-License-Identifier: Apache-2.0 */
/* Packet parsing: Ethernet, up to two VLAN tags, IPv4 (options, fragments),
 * IPv6 (extension header chain), TCP, UDP, SCTP, ICMP, ICMPv6 and the packet
 * quoted inside ICMP errors. Every access is bounds-checked first; a
 * truncated or inconsistent header yields a named reason, never a crash. */
#ifndef ZS_BPF_PARSE_H
#define ZS_BPF_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "ctx.h"
#include "maps.h"
#include "packet.h"
#include <zeroseg/conntrack.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/proto.h>
#include <zeroseg/verdict.h>

#define ZS_ETH_P_8021AD 0x88A8
#define ZS_MAX_VLANS 2
#define ZS_MAX_IPV6_EXT 8
/* Keeps offsets in a range the verifier can bound. */
#define ZS_MAX_L4_OFF 512

/* Returns off unchanged (callers have checked off <= ZS_MAX_L4_OFF), but
 * gives it the same known range on every path: the verifier then sees the
 * paths out of a header walk as equal and checks what follows once, not
 * once per number of headers walked (8 IPv6 extension headers otherwise
 * triple the instructions it processes). */
static __always_inline __u32 zs_verifier_off(__u32 off)
{
	/* in asm: clang would drop an AND it can prove changes nothing */
	asm volatile("%0 &= 0x3ff" : "+r"(off));
	return off;
}

struct zs_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* Whether IPv6 neighbour discovery passes without policy (zs_nd_class). */
enum zs_nd {
	ZS_ND_JUDGED = 0,   /* not ND, or ND judged by policy like any ICMPv6 */
	ZS_ND_LINK = 1,     /* cannot cross a router: passes both ways */
	ZS_ND_ARRIVING = 2, /* sent on this link: passes as ingress only */
};

enum zs_parse_result {
	ZS_PARSE_IP = 0,
	ZS_PARSE_NON_IP = -1,
	/* > 0: a zs_reason */
};

/* Where an ICMP message of type and code, with id (its bytes 4-5), stands
 * in conntrack (a zs_ct_role), and a query's ports in t
 * (zs_icmp_query_ports): only the request/reply pairs of
 * zs_icmp_request_type are flows, keyed by their id and request type. A
 * global function: the verifier checks it once, and the role it returns
 * is one unknown number to the caller, not three constants that would
 * triple the paths it walks after every exit of the parser (inline, this
 * took the programs from ~201k verified instructions to ~330k). */
__attribute__((noinline)) int zs_icmp_query(struct zs_tuple *t, __u8 type, __u8 code, __u16 id)
{
	__u8 request;

	if (!t)
		return ZS_CT_ROLE_UNTRACKED;
	request = zs_icmp_request_type(t->proto, type);
	if (!request)
		return ZS_CT_ROLE_UNTRACKED;
	zs_icmp_query_ports(t, request, type, code, id);
	return request == type ? ZS_CT_ROLE_REQUEST : ZS_CT_ROLE_REPLY;
}

static __always_inline void zs_parse_icmp_query(struct zs_packet *p, const __u8 *l4)
{
	p->ct_role = zs_icmp_query(&p->tuple, l4[0], l4[1], *(const __u16 *)(l4 + 4));
}

/* Ports of a TCP/UDP/SCTP header, or an ICMP query's, at l4, of the packet
 * an ICMP error quotes (of which only 8 bytes are guaranteed). */
static __always_inline int zs_parse_ports(struct zs_ctx *ctx, __u32 off,
					  struct zs_packet *q)
{
	struct zs_tuple *t = &q->tuple;
	__u8 *l4 = ctx->data + off;

	if ((void *)(l4 + 8) > ctx->data_end)
		return ZS_REASON_MALFORMED_L4;
	switch (t->proto) {
	case ZS_PROTO_TCP:
	case ZS_PROTO_UDP:
	case ZS_PROTO_SCTP:
		t->sport = *(__u16 *)l4;
		t->dport = *(__u16 *)(l4 + 2);
		break;
	case ZS_PROTO_ICMP:
	case ZS_PROTO_ICMPV6:
		zs_parse_icmp_query(q, l4);
		break;
	}
	return 0;
}

/* The header quoted by an ICMP error at off, into zs_scratch.quoted (not
 * into p, which every packet would then pay to zero), with the error's
 * length (its IP header at l3_off); best effort: zs_scratch.quote_whole
 * says whether the quote was parsed whole. */
static __always_inline void zs_parse_quoted(struct zs_ctx *ctx, __u32 off,
					    __u32 l3_off, __u8 family)
{
	struct zs_scratch *scratch = zs_get_scratch();
	struct zs_tuple *t;

	if (!scratch)
		return;
	__builtin_memset(&scratch->quoted, 0, sizeof(scratch->quoted));
	t = &scratch->quoted.tuple;
	scratch->quote_whole = 0;
	/* The error's length is what the frame holds from its IP header
	 * on: no receiver takes in more (a datagram whose header says more
	 * than it holds is dropped, one that says less is cut to it), and
	 * it needs no second read of the header: a bounds check here, in
	 * the parser every packet runs, would double what the verifier
	 * walks. The frame holds the header, so this cannot wrap. */
	scratch->error_len = ctx->len - l3_off;

	if (family == ZS_FAMILY_IPV4) {
		struct iphdr *ip = ctx->data + off;

		if ((void *)(ip + 1) > ctx->data_end || ip->version != 4 || ip->ihl < 5)
			return;
		t->saddr[0] = ip->saddr;
		t->daddr[0] = ip->daddr;
		t->proto = ip->protocol;
		off += ip->ihl * 4;
	} else {
		struct ipv6hdr *ip6 = ctx->data + off;

		if ((void *)(ip6 + 1) > ctx->data_end || ip6->version != 6)
			return;
		__builtin_memcpy(t->saddr, &ip6->saddr, 16);
		__builtin_memcpy(t->daddr, &ip6->daddr, 16);
		t->proto = ip6->nexthdr;
		off += sizeof(*ip6);
	}
	t->family = family;
	if (off > ZS_MAX_L4_OFF || zs_parse_ports(ctx, off, &scratch->quoted))
		return;
	scratch->quote_whole = 1;
}

/* Both ports in one 4-byte store: the conntrack key reads them back as one
 * 4-byte load, and a load that spans two smaller stores cannot be
 * forwarded from the store buffer (a stall of ~5 ns on the established
 * path, seen with perf). Packet data is not aligned: x86 does not mind,
 * and the verifier allows it where unaligned access is efficient. */
static __always_inline void zs_copy_ports(struct zs_tuple *t, const __u8 *l4)
{
	*(__u32 *)&t->sport = *(const __u32 *)l4;
}

/* The L4 header at off, of the IP datagram whose header is at l3_off. */
static __always_inline int zs_parse_l4(struct zs_ctx *ctx, __u32 off,
				       __u32 l3_off, struct zs_packet *p)
{
	struct zs_tuple *t = &p->tuple;
	__u8 *l4 = ctx->data + off;

	if (off > ZS_MAX_L4_OFF)
		return ZS_REASON_MALFORMED_L4;

	switch (t->proto) {
	case ZS_PROTO_TCP: {
		struct tcphdr *tcp = (void *)l4;

		if ((void *)(tcp + 1) > ctx->data_end || tcp->doff < 5)
			return ZS_REASON_MALFORMED_L4;
		zs_copy_ports(t, l4);
		p->tcp_flags = l4[13];
		p->has_ports = 1;
		break;
	}
	case ZS_PROTO_UDP:
	case ZS_PROTO_SCTP:
		/* both start with source and destination port */
		if ((void *)(l4 + (t->proto == ZS_PROTO_UDP ? 8 : 12)) > ctx->data_end)
			return ZS_REASON_MALFORMED_L4;
		zs_copy_ports(t, l4);
		p->has_ports = 1;
		break;
	case ZS_PROTO_ICMP:
	case ZS_PROTO_ICMPV6:
		if ((void *)(l4 + 8) > ctx->data_end)
			return ZS_REASON_MALFORMED_L4;
		p->icmp_type = l4[0];
		p->icmp_code = l4[1];
		zs_parse_icmp_query(p, l4);
		/* ICMPv6 in IPv4 (or ICMP in IPv6) is just another protocol:
		 * no neighbour discovery pass, no related error (the fuzz
		 * test found ICMPv6 type 134 in IPv4 passing deny-all) */
		if (t->proto == ZS_PROTO_ICMP && t->family == ZS_FAMILY_IPV4 &&
		    zs_icmp_is_error(ZS_FAMILY_IPV4, l4[0])) {
			p->icmp_error = 1;
			zs_parse_quoted(ctx, off + 8, l3_off, ZS_FAMILY_IPV4);
		}
		if (t->proto == ZS_PROTO_ICMPV6 && t->family == ZS_FAMILY_IPV6) {
			if (zs_icmp_is_error(ZS_FAMILY_IPV6, l4[0])) {
				p->icmp_error = 1;
				zs_parse_quoted(ctx, off + 8, l3_off, ZS_FAMILY_IPV6);
			}
			p->neighbour_disc = zs_icmp6_is_nd(l4[0]);
		}
		break;
	}
	if (p->has_ports)
		p->policy_port = bpf_ntohs(t->dport);
	else if (zs_is_icmp(t->proto))
		p->policy_port = zs_policy_port(t->proto, 0, p->icmp_type, p->icmp_code);
	return 0;
}

/* fe80::/10: never forwarded, as source or destination (RFC 4291 2.5.6) */
static __always_inline int zs_ip6_link_local(const __u32 *a)
{
	return (a[0] & bpf_htonl(0xffc00000)) == bpf_htonl(0xfe800000);
}

/* ff02::/16, link-scope multicast: never forwarded (RFC 4291 2.7). Every
 * multicast destination of RFC 4861 is one: all-nodes, all-routers,
 * solicited-node. */
static __always_inline int zs_ip6_link_multicast(const __u32 *a)
{
	return (a[0] & bpf_htonl(0xffff0000)) == bpf_htonl(0xff020000);
}

/* IPv6 neighbour discovery that passes without policy (a zs_nd), for p,
 * whose type is ND (p->neighbour_disc). RFC 4861 has a receiver
 * accept ND only with hop limit 255 and code 0 (6.1.1, 6.1.2, 7.1.1,
 * 7.1.2, 8.1), which no forwarded packet keeps; but a workload can send
 * 255 itself, to an address a router forwards on. So ND passes only
 * when all of these hold, and is judged by policy like any ICMPv6
 * otherwise (dropped under deny-all):
 *  - ICMPv6 right after the fixed header: no extension header, so no
 *    fragment (RFC 6980 section 5: ND is never fragmented);
 *  - hop limit 255 and code 0;
 *  - a source that is not multicast; RA and redirect from a link-local
 *    source only (6.1.2, 8.1); the unspecified source only for NS (DAD,
 *    7.1.1) and RS (6.1.1), to link-scope multicast (ff02::/16);
 *  - and it cannot cross a router: ZS_ND_LINK when its source is
 *    link-local (so unicast NS for NUD, 7.1.1, solicited NA, 7.2.4, and
 *    redirect, 8.1, may go to any unicast address) or its destination is
 *    link-local or ff02::/16 (NS from a global source: Linux resolves
 *    with the source of the packet waiting). Else (a global source to a
 *    global destination, as a solicited NA to a global solicitor)
 *    ZS_ND_ARRIVING: passed as ingress only, where hop limit 255 proves
 *    the sender is on this link; sent, a router could forward it, data
 *    and all, to another link, so policy judges it.
 * Cheap: the addresses are in p already, no map is read; and called in a
 * global function (zs_nd_passes), so the verifier walks it once, not once
 * per path out of the parser. */
static __always_inline __u8 zs_nd_class(const struct zs_packet *p)
{
	const __u32 *s = p->tuple.saddr, *d = p->tuple.daddr;
	__u8 type = p->icmp_type;

	if (p->ip6_nexthdr != ZS_PROTO_ICMPV6 || p->hop_limit != ZS_ND_HOP_LIMIT || p->icmp_code)
		return ZS_ND_JUDGED;
	if (zs_ip6_link_local(s))
		return ZS_ND_LINK;
	if (type == ZS_ICMPV6_ND_RA || type == ZS_ICMPV6_ND_REDIRECT ||
	    (s[0] & bpf_htonl(0xff000000)) == bpf_htonl(0xff000000))
		return ZS_ND_JUDGED;
	if (!(s[0] | s[1] | s[2] | s[3]))
		return (type == ZS_ICMPV6_ND_NS || type == ZS_ICMPV6_ND_RS) &&
		       zs_ip6_link_multicast(d) ? ZS_ND_LINK : ZS_ND_JUDGED;
	if (zs_ip6_link_local(d) || zs_ip6_link_multicast(d))
		return ZS_ND_LINK;
	return ZS_ND_ARRIVING;
}

static __always_inline int zs_parse_ipv4(struct zs_ctx *ctx, __u32 off,
					 struct zs_packet *p)
{
	struct iphdr *ip = ctx->data + off;
	__u16 frag;
	__u32 hlen;

	if ((void *)(ip + 1) > ctx->data_end)
		return ZS_REASON_MALFORMED_IPV4;
	/* the addresses first, whatever follows: the source check runs on
	 * every packet whose addresses were read (zs_datapath), malformed
	 * or not, so a packet the parser gives up on still has its source
	 * judged */
	p->tuple.family = ZS_FAMILY_IPV4;
	p->tuple.saddr[0] = ip->saddr;
	p->tuple.daddr[0] = ip->daddr;
	p->hop_limit = ip->ttl;
	hlen = ip->ihl * 4;
	if (ip->version != 4 || hlen < sizeof(*ip) ||
	    bpf_ntohs(ip->tot_len) < hlen ||
	    ctx->data + off + hlen > ctx->data_end)
		return ZS_REASON_MALFORMED_IPV4;
	p->tuple.proto = ip->protocol;

	frag = bpf_ntohs(ip->frag_off);
	if (frag & 0x1fff) {
		p->frag_later = 1;
	} else if (frag & 0x2000) {
		p->frag_first = 1;
	}
	p->frag_id = ip->id;
	if (p->frag_later)
		return 0;
	return zs_parse_l4(ctx, off + hlen, off, p);
}

static __always_inline int zs_is_ipv6_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_DSTOPTS ||
	       nexthdr == IPPROTO_AH;
}

static __always_inline int zs_parse_ipv6(struct zs_ctx *ctx, __u32 off,
					 struct zs_packet *p)
{
	struct ipv6hdr *ip6 = ctx->data + off;
	__u32 l3_off = off;
	__u8 nexthdr;
	int i;

	if ((void *)(ip6 + 1) > ctx->data_end)
		return ZS_REASON_MALFORMED_IPV6;
	/* the addresses first, as in zs_parse_ipv4 */
	p->tuple.family = ZS_FAMILY_IPV6;
	__builtin_memcpy(p->tuple.saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->tuple.daddr, &ip6->daddr, 16);
	if (ip6->version != 6)
		return ZS_REASON_MALFORMED_IPV6;
	nexthdr = ip6->nexthdr;
	p->hop_limit = ip6->hop_limit;
	p->ip6_nexthdr = nexthdr;
	off += sizeof(*ip6);

	for (i = 0; i < ZS_MAX_IPV6_EXT; i++) {
		__u8 *ext;

		if (!zs_is_ipv6_ext(nexthdr))
			break;
		if (off > ZS_MAX_L4_OFF)
			return ZS_REASON_MALFORMED_IPV6;
		off = zs_verifier_off(off);
		ext = ctx->data + off;
		if ((void *)(ext + 8) > ctx->data_end)
			return ZS_REASON_MALFORMED_IPV6;
		if (nexthdr == IPPROTO_FRAGMENT) {
			__u16 frag = bpf_ntohs(*(__u16 *)(ext + 2));

			p->frag_id = *(__u32 *)(ext + 4);
			if (frag & 0xfff8)
				p->frag_later = 1;
			else if (frag & 1)
				p->frag_first = 1;
			nexthdr = ext[0];
			off += 8;
			if (p->frag_later) {
				p->tuple.proto = nexthdr;
				return 0;
			}
			continue;
		}
		if (nexthdr == IPPROTO_AH)
			off += ((__u32)ext[1] + 2) * 4;
		else
			off += ((__u32)ext[1] + 1) * 8;
		nexthdr = ext[0];
		if (ctx->data + off > ctx->data_end)
			return ZS_REASON_MALFORMED_IPV6;
	}
	if (zs_is_ipv6_ext(nexthdr))
		return ZS_REASON_IPV6_EXT_LIMIT;
	p->tuple.proto = nexthdr;
	if (off > ZS_MAX_L4_OFF)
		return ZS_REASON_MALFORMED_IPV6;
	return zs_parse_l4(ctx, zs_verifier_off(off), l3_off, p);
}

/* Fills p; returns ZS_PARSE_IP, ZS_PARSE_NON_IP or a zs_reason. A reason
 * may come with p's addresses read (p->tuple.family set): the IP header
 * was there, what follows it was not judgeable. */
static __always_inline int zs_parse(struct zs_ctx *ctx, struct zs_packet *p)
{
	struct ethhdr *eth = ctx->data;
	__u32 off = sizeof(*eth);
	__be16 proto;
	int i;

	if ((void *)(eth + 1) > ctx->data_end)
		return ZS_REASON_MALFORMED_L2;
	proto = eth->h_proto;
	/* untagged IPv4, the common case, before the tag walk (which also
	 * spares the verifier ~10% of its work) */
	if (likely(proto == bpf_htons(ETH_P_IP)))
		return zs_parse_ipv4(ctx, off, p);

	for (i = 0; i < ZS_MAX_VLANS; i++) {
		struct zs_vlan_hdr *vlan = ctx->data + off;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ZS_ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > ctx->data_end)
			return ZS_REASON_MALFORMED_L2;
		proto = vlan->proto;
		off += sizeof(*vlan);
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ZS_ETH_P_8021AD))
		return ZS_REASON_VLAN_LIMIT;

	if (proto == bpf_htons(ETH_P_IP))
		return zs_parse_ipv4(ctx, off, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return zs_parse_ipv6(ctx, off, p);
	return ZS_PARSE_NON_IP;
}

#endif
