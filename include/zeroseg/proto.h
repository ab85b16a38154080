/* SPDX-License-Identifier: Apache-2.0 */
/* The protocols the datapath reads past the IP header, and the rules over
 * them that the kernel and user space share: which carry ports, which ICMP
 * messages are errors (judged, never opening a flow) or queries (the only
 * ICMP tracked as flows), and the port a policy key judges. */
#ifndef ZEROSEG_PROTO_H
#define ZEROSEG_PROTO_H

#include "types.h"
#include "ipcache.h"

/* IP protocol numbers (IANA), as in zs_tuple.proto and zs_policy_key.proto */
#define ZS_PROTO_ANY 0 /* policy keys only: any protocol */
#define ZS_PROTO_ICMP 1
#define ZS_PROTO_TCP 6
#define ZS_PROTO_UDP 17
#define ZS_PROTO_ICMPV6 58
#define ZS_PROTO_SCTP 132

/* TCP flags, as conntrack records them (zs_ct_entry.tcp_flags) */
#define ZS_TCP_FIN 0x01
#define ZS_TCP_SYN 0x02
#define ZS_TCP_RST 0x04
#define ZS_TCP_ACK 0x10

/* ICMP and ICMPv6 types (<linux/icmp.h> and <linux/icmpv6.h> pull in libc
 * headers, which BPF programs cannot include) */
#define ZS_ICMP_ECHOREPLY 0
#define ZS_ICMP_DEST_UNREACH 3
#define ZS_ICMP_SOURCE_QUENCH 4
#define ZS_ICMP_REDIRECT 5
#define ZS_ICMP_ECHO 8
#define ZS_ICMP_TIME_EXCEEDED 11
#define ZS_ICMP_PARAMETERPROB 12
#define ZS_ICMP_TIMESTAMP 13
#define ZS_ICMP_ADDRESSREPLY 18   /* the last query type: 13-18 are 3 pairs */
#define ZS_ICMPV6_DEST_UNREACH 1
#define ZS_ICMPV6_PARAMPROB 4
#define ZS_ICMPV6_ECHO_REQUEST 128
#define ZS_ICMPV6_ECHO_REPLY 129
#define ZS_ICMPV6_NI_QUERY 139    /* node information, RFC 4620 */
#define ZS_ICMPV6_NI_REPLY 140
#define ZS_ICMPV6_ND_RS 133       /* router solicitation */
#define ZS_ICMPV6_ND_RA 134       /* router advertisement */
#define ZS_ICMPV6_ND_NS 135       /* neighbour solicitation */
#define ZS_ICMPV6_ND_NA 136       /* neighbour advertisement */
#define ZS_ICMPV6_ND_REDIRECT 137
#define ZS_ICMPV6_ND_FIRST ZS_ICMPV6_ND_RS
#define ZS_ICMPV6_ND_LAST ZS_ICMPV6_ND_REDIRECT
#define ZS_ND_HOP_LIMIT 255       /* RFC 4861: sent with, and accepted only with */

/* ICMP or ICMPv6: the policy port is type and code */
ZS_INLINE int zs_is_icmp(__u8 proto)
{
	return proto == ZS_PROTO_ICMP || proto == ZS_PROTO_ICMPV6;
}

/* TCP, UDP, SCTP: a source and a destination port lead the header */
ZS_INLINE int zs_has_ports(__u8 proto)
{
	return proto == ZS_PROTO_TCP || proto == ZS_PROTO_UDP || proto == ZS_PROTO_SCTP;
}

/* A family's own ICMP. ICMPv6 in IPv4 (or ICMP in IPv6) is just another
 * protocol: it has no errors and no neighbour discovery. */
ZS_INLINE __u8 zs_icmp_proto(__u8 family)
{
	return family == ZS_FAMILY_IPV6 ? ZS_PROTO_ICMPV6 : ZS_PROTO_ICMP;
}

/* Error types of the family's own ICMP that may pass as related to the
 * flow they quote: only under the rule of bpf/lib/pipeline.h (zs_related);
 * else policy judges one as any ICMP. Never IPv4's redirect (5) or source
 * quench (4): Linux takes a redirect only from the current gateway, which
 * the datapath cannot know, and quench is deprecated (RFC 6633); policy
 * judges both. (IPv6's redirect is neighbour discovery.) */
ZS_INLINE int zs_icmp_is_error(__u8 family, __u8 type)
{
	if (family == ZS_FAMILY_IPV6)
		return type >= ZS_ICMPV6_DEST_UNREACH && type <= ZS_ICMPV6_PARAMPROB;
	return type == ZS_ICMP_DEST_UNREACH || type == ZS_ICMP_TIME_EXCEEDED ||
	       type == ZS_ICMP_PARAMETERPROB;
}

/* The largest an ICMP error may be, its IP header on: an IPv4 router's
 * error is at most 576 bytes (RFC 1812 4.3.2.3), an ICMPv6 error at most
 * the IPv6 minimum MTU, 1280 (RFC 4443 2.4(c)). A bigger one is no error a
 * host or router sends: the datapath judges it by policy, never as related. */
#define ZS_ICMP_ERROR_MAX_LEN 576
#define ZS_ICMPV6_ERROR_MAX_LEN 1280

ZS_INLINE int zs_icmp_error_fits(__u8 family, __u32 ip_len)
{
	return ip_len <= (family == ZS_FAMILY_IPV6 ? ZS_ICMPV6_ERROR_MAX_LEN : ZS_ICMP_ERROR_MAX_LEN);
}

/* ICMP queries, the only ICMP tracked as flows, as Linux's conntrack
 * tracks them (nf_conntrack_proto_icmp.c, nf_conntrack_proto_icmpv6.c):
 * the request/reply pairs ICMP echo 8/0, timestamp 13/14, information
 * 15/16 and address mask 17/18, ICMPv6 echo 128/129 and node information
 * 139/140. Returns the request's type for a request or its reply, 0 for
 * any other message (no request type is 0). A request opens a flow keyed
 * by its type and id (zs_icmp_query_ports in conntrack.h), its reply
 * answers it and opens none; any other ICMP is judged by policy on every
 * packet and never tracked. */
ZS_INLINE __u8 zs_icmp_request_type(__u8 proto, __u8 type)
{
	if (proto == ZS_PROTO_ICMP) {
		if (type == ZS_ICMP_ECHO || type == ZS_ICMP_ECHOREPLY)
			return ZS_ICMP_ECHO;
		if (type >= ZS_ICMP_TIMESTAMP && type <= ZS_ICMP_ADDRESSREPLY)
			return (__u8)((type - 1) | 1); /* 13/14, 15/16, 17/18 */
		return 0;
	}
	if (proto == ZS_PROTO_ICMPV6) {
		if (type == ZS_ICMPV6_ECHO_REQUEST || type == ZS_ICMPV6_ECHO_REPLY)
			return ZS_ICMPV6_ECHO_REQUEST;
		if (type == ZS_ICMPV6_NI_QUERY || type == ZS_ICMPV6_NI_REPLY)
			return ZS_ICMPV6_NI_QUERY;
	}
	return 0;
}

/* A query's request: the one ICMP message that opens a flow. */
ZS_INLINE int zs_icmp_is_request(__u8 proto, __u8 type)
{
	__u8 request = zs_icmp_request_type(proto, type);

	return request && request == type;
}

/* IPv6 neighbour discovery (RS, RA, NS, NA, redirect) by type. Which of it
 * passes without policy is the kernel's zs_nd_class (bpf/lib/parse.h):
 * only what stays on its link; the rest is judged like any ICMPv6. */
ZS_INLINE int zs_icmp6_is_nd(__u8 type)
{
	return type >= ZS_ICMPV6_ND_FIRST && type <= ZS_ICMPV6_ND_LAST;
}

/* The port policy judges (zs_policy_key.port, host order): the destination
 * port where there are ports, type << 8 | code for ICMP and ICMPv6 (a
 * type-only rule is then a /8, a type+code rule a /16), else 0. */
ZS_INLINE __u16 zs_policy_port(__u8 proto, __u16 dport, __u8 icmp_type, __u8 icmp_code)
{
	if (zs_is_icmp(proto))
		return (__u16)((__u16)icmp_type << 8 | icmp_code);
	return zs_has_ports(proto) ? dport : 0;
}

#endif
