/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZEROSEG_CONNTRACK_H
#define ZEROSEG_CONNTRACK_H

#include "types.h"
#include "config.h"
#include "proto.h"

/* A flow's 5-tuple as its first packet carried it. An ICMP query's ports
 * are its id and its request's type and code (zs_icmp_query_ports); other
 * ICMP carries ports 0, and is never tracked; protocols without ports
 * carry 0. */
struct zs_tuple {
	__u32 saddr[4]; /* network order; IPv4 in [0] */
	__u32 daddr[4];
	__u16 sport;    /* network order */
	__u16 dport;
	__u8 proto;
	__u8 family;    /* zs_family */
	__u16 pad;
};

/* The ports of an ICMP query's packet (zs_icmp_request_type gave request,
 * non-zero), network order: a request's are (id, zs_policy_port of its
 * type and code), its reply's (the policy port of the request's type with
 * the reply's code, id). So a reply's reversed tuple is its request's, and
 * an ICMP flow's key holds the id and the request's type and code: an echo
 * never finds a timestamp's flow. (Linux keys ICMP so: type, code, id.) */
ZS_INLINE void zs_icmp_query_ports(struct zs_tuple *t, __u8 request, __u8 type, __u8 code,
				   __u16 id)
{
	__u16 query = zs_htons(zs_policy_port(t->proto, 0, request, code));

	t->sport = type == request ? id : query;
	t->dport = type == request ? query : id;
}

/* What an ICMP flow's key (its request's tuple) says: the request's policy
 * port, type << 8 | code, and its id (host order). */
ZS_INLINE __u16 zs_icmp_flow_port(const struct zs_tuple *t)
{
	return zs_htons(t->dport);
}

ZS_INLINE __u16 zs_icmp_flow_id(const struct zs_tuple *t)
{
	return zs_htons(t->sport);
}

/* conntrack (LRU): one entry per flow and attachment. The ifindex is part of
 * the key because one packet between two local workloads is judged twice:
 * as the sender's egress and as the receiver's ingress. A packet is the
 * flow's original direction when its tuple is found as is, a reply when its
 * reversed tuple is. */
struct zs_ct_key {
	__u32 ifindex;
	__u32 pad;
	struct zs_tuple tuple;
};

/* conntrack4 (LRU): the IPv4 flows, with a key of 20 bytes instead of 48.
 * The kernel hashes and compares the whole key on every lookup: the
 * established path's biggest cost (bench/RESULTS.md). Same fields and
 * meaning as zs_ct_key; IPv6 flows are in zs_conntrack6. */
struct zs_ct_key4 {
	__u32 ifindex;
	__u32 saddr;  /* network order */
	__u32 daddr;
	__u16 sport;  /* network order */
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

enum zs_ct_flags {
	ZS_CT_AUDIT = 1 << 0,   /* allowed only because the direction audits */
	ZS_CT_CLOSING = 1 << 1, /* FIN or RST seen */
	/* in no share: a host uplink's entry for a flow whose inner end is a
	 * local workload, which that workload's own interface charged (its
	 * share; zs_ct_charged) */
	ZS_CT_UNCHARGED = 1 << 2,
};

struct zs_ct_entry {
	__u64 created_ns;   /* CLOCK_MONOTONIC_COARSE (bpf_ktime_get_coarse_ns) */
	__u64 last_seen_ns;
	__u64 generation;   /* config generation that judged it */
	__u64 expires_tai;  /* expiry of the allowing rule; 0 = never */
	__u64 packets[2];   /* [0] original direction, [1] reply */
	__u64 bytes[2];
	__u32 rule_id;      /* the rule that allowed it; 0 = default/audit */
	__u32 subject;
	__u32 peer;
	__u8 direction;     /* zs_direction of the original packet */
	__u8 flags;         /* zs_ct_flags */
	__u8 tcp_flags[2];  /* OR of TCP flags seen, per direction */
	__u16 policy_port;  /* the port policy judged (see zs_policy_key) */
	__u16 pad;
	__u64 last_seen_jiffies; /* bpf_jiffies64() when last_seen_ns was set */
};

/* fragments (LRU): the first fragment of a datagram records its ports so
 * later fragments are judged as the same flow, not let through blind. */
struct zs_frag_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 id;     /* IPv4 id (16 bits) or IPv6 fragment id */
	__u8 proto;
	__u8 family;
	__u16 pad;
};

struct zs_frag_value {
	__u16 sport;
	__u16 dport;
};

/* ct_usage (hash): ifindex -> the entries the endpoint on that interface
 * holds in each conntrack table, per share. An endpoint has two shares of
 * each table (ct-endpoint-share entries each, zs_config's
 * ct_endpoint_share): one for the flows it opened (egress) and one for the
 * flows opened towards it (ingress); an entry's direction (zs_ct_entry)
 * says which share holds it. So the peers a policy lets in can fill only
 * the ingress share: the endpoint's own new flows are judged against its
 * egress share, which only it can fill. (One share for both let any
 * allowed client lock a service out of its own DNS and database, holding
 * the share full with flows the service never opened.) Like Linux's
 * per-zone conntrack limits, a share bounds a bucket, not a peer: the
 * clients allowed in can together fill the ingress share, and then new
 * inbound flows wait while the endpoint's egress and every established
 * flow go on.
 * A flow between two local workloads holds an entry at each end: the
 * opener's egress entry, in its egress share, and the receiver's ingress
 * entry, in the receiver's ingress share. An opener over its egress share
 * is refused on its egress, before anything reaches the other end.
 * A host uplink's shares hold the host's own flows only. A flow through
 * the uplink whose inner end is a local workload (out: it arrived on a
 * workload's interface, skb->ingress_ifindex; in: to a local workload's
 * address) is charged to, and refused by, that workload's share on its
 * own interface; the uplink's entry is ZS_CT_UNCHARGED. Else one
 * workload opening flows out (or clients let in to one workload) filled
 * the uplink's share, and the uplink refused every other workload's new
 * flows (bpf/lib/ct_charge.h).
 * The kernel adds one when it inserts a new key and takes one off when it
 * revokes a flow (re-judged and denied); it does not see entries that
 * expire and are replaced, and an LRU map tells nobody what it evicts, and
 * the agent deletes idle entries, so the agent's conntrack sweep, which
 * walks both tables anyway, recounts every endpoint's entries per table and
 * direction and corrects the counts (keeping what the kernel added while
 * it walked): a count can be off by what happened since the last sweep,
 * never drift. */
struct zs_ct_usage {
	/* [zs_ct_table_of(family)][zs_direction that opened the flow] */
	__u32 entries[2][ZS_DIR_MAX];
};

/* Whether an entry is in its endpoint's share (counted in zs_ct_usage):
 * the one rule for the kernel's counts and the agent's recount. */
ZS_INLINE int zs_ct_charged(const struct zs_ct_entry *ct)
{
	return !(ct->flags & ZS_CT_UNCHARGED);
}

/* The table of a family: 0 for IPv4, 1 for IPv6. */
ZS_INLINE int zs_ct_table_of(__u8 family)
{
	return family == ZS_FAMILY_IPV4 ? 0 : 1;
}

/* Where a TCP flow is, from the flags each direction has sent: as Linux's
 * tcp conntrack, coarser. A flow is established once both ends have
 * acknowledged (the original end's handshake ACK after the reply's
 * SYN-ACK, or, for a flow picked up mid-stream by a first packet without
 * SYN, an ACK from each end). Until then an entry lives for SYN-SENT's
 * lifetime (opened by SYN, no reply yet) or SYN-RECV's (answered but not
 * established, or picked up mid-stream: Linux's loose pickup would call
 * that established, but an entry no reply has confirmed must not live
 * for hours). */
enum zs_ct_tcp_state {
	ZS_CT_TCP_SYN_SENT = 0,
	ZS_CT_TCP_SYN_RECV = 1,
	ZS_CT_TCP_ESTABLISHED = 2,
	ZS_CT_TCP_CLOSING = 3,
};

ZS_INLINE int zs_ct_tcp_state_of(const struct zs_ct_entry *ct)
{
	if (ct->flags & ZS_CT_CLOSING)
		return ZS_CT_TCP_CLOSING;
	if (ct->tcp_flags[0] & ct->tcp_flags[1] & ZS_TCP_ACK)
		return ZS_CT_TCP_ESTABLISHED;
	if ((ct->tcp_flags[0] & ZS_TCP_SYN) && !ct->tcp_flags[1])
		return ZS_CT_TCP_SYN_SENT;
	return ZS_CT_TCP_SYN_RECV;
}

/* How long a flow lives without a packet (zs_config's timeouts, whose
 * defaults are ZS_DEFAULT_CT_TIMEOUT_*); proto is the flow's. The one
 * rule: the kernel expires by it, the agent's sweep deletes and reports
 * by it. */
ZS_INLINE __u64 zs_ct_timeout_ns(const struct zs_config *cfg, const struct zs_ct_entry *ct,
				 __u8 proto)
{
	__u32 sec = cfg->ct_timeout_other;

	if (proto == ZS_PROTO_TCP) {
		switch (zs_ct_tcp_state_of(ct)) {
		case ZS_CT_TCP_CLOSING:
			sec = cfg->ct_timeout_tcp_closing;
			break;
		case ZS_CT_TCP_ESTABLISHED:
			sec = cfg->ct_timeout_tcp;
			break;
		case ZS_CT_TCP_SYN_SENT:
			sec = cfg->ct_timeout_tcp_syn_sent;
			break;
		default:
			sec = cfg->ct_timeout_tcp_syn_recv;
			break;
		}
	}
	return (__u64)sec * ZS_NS_PER_SEC;
}

/* ct_origin_ports (array): the ports of every tracked flow's first packet,
 * a bit per port in each word, set before the flow is inserted and never
 * cleared. A packet to port P can be a flow's own packet only if P's
 * as_dest bit is set, a reply only if its as_source bit is
 * (bpf/lib/deny_fastpath.h). Entry P / 64, bit P % 64, P as keys hold it
 * (network order). */
#define ZS_CT_ORIGIN_PORT_WORDS (65536 / 64)
struct zs_ct_port_bits {
	__u64 as_source;
	__u64 as_dest;
};

ZS_STATIC_ASSERT(sizeof(struct zs_tuple) == 40, "zs_tuple ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_ct_key) == 48, "zs_ct_key ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_ct_key4) == 20, "zs_ct_key4 ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_ct_entry) == 96, "zs_ct_entry ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_ct_usage) == 16, "zs_ct_usage ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_ct_port_bits) == 16, "zs_ct_port_bits ABI");

#endif
