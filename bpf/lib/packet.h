/* SPDX-License-Identifier: Apache-2.0 */
/* What parsing learns of a packet (bpf/lib/parse.h); also the packet an
 * ICMP error quotes, in zs_scratch (bpf/lib/maps.h). */
#ifndef ZS_BPF_PACKET_H
#define ZS_BPF_PACKET_H

#include <zeroseg/conntrack.h>

/* How conntrack may know a packet (zs_packet.ct_role), as Linux's
 * conntrack knows ICMP (nf_conntrack_proto_icmp.c, icmpv6): only the
 * query pairs of zs_icmp_request_type are flows. */
enum zs_ct_role {
	ZS_CT_ROLE_EITHER = 0,    /* a flow's packet either way: TCP, UDP, SCTP, other protocols */
	ZS_CT_ROLE_REQUEST = 1,   /* an ICMP query's request: opens its flow, never answers one */
	ZS_CT_ROLE_REPLY = 2,     /* an ICMP query's reply: answers its request's flow, never opens one */
	ZS_CT_ROLE_UNTRACKED = 3, /* any other ICMP (errors, ND, ...): judged on every packet,
				   * never looked up nor inserted */
};

struct zs_packet {
	struct zs_tuple tuple;
	__u32 frag_id;
	__u16 policy_port;     /* zs_policy_port: dport, or ICMP type << 8 | code */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 has_ports;        /* TCP, UDP, SCTP: ports are meaningful */
	__u8 icmp_error;       /* the family's own ICMP error: opens no flow;
				* zs_scratch.quoted holds its quote */
	__u8 neighbour_disc;   /* ICMPv6 ND type in IPv6: zs_nd_class decides */
	__u8 frag_first;       /* offset 0 and more fragments follow */
	__u8 frag_later;       /* offset > 0: no L4 header here */
	__u8 hop_limit;        /* IPv4 TTL, IPv6 hop limit, as it arrived (zs_nd_class,
				* zs_ct_inner_workload) */
	__u8 ip6_nexthdr;      /* IPv6: the fixed header's next header */
	__u8 ct_role;          /* zs_ct_role */
};

/* A packet that may open a flow once policy allows it: an ICMP reply, error
 * or other message never does (it is judged again on its next packet). */
ZS_INLINE int zs_opens_flow(const struct zs_packet *p)
{
	return p->ct_role <= ZS_CT_ROLE_REQUEST;
}

#endif
