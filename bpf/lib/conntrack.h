/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZS_BPF_CONNTRACK_H
#define ZS_BPF_CONNTRACK_H

#include "maps.h"
#include "parse.h"

#define ZS_NS_PER_SEC 1000000000ULL

enum zs_ct_lookup {
	ZS_CT_NEW = 0,
	ZS_CT_ORIGINAL = 1, /* the packet travels as the flow's first did */
	ZS_CT_REPLY = 2,
};

static __always_inline void zs_tuple_reverse(struct zs_tuple *dst,
					     const struct zs_tuple *src)
{
	__builtin_memcpy(dst->saddr, src->daddr, 16);
	__builtin_memcpy(dst->daddr, src->saddr, 16);
	dst->sport = src->dport;
	dst->dport = src->sport;
	dst->proto = src->proto;
	dst->family = src->family;
	dst->pad = 0;
}

static __always_inline __u64 zs_ct_timeout_ns(const struct zs_config *cfg,
					      const struct zs_ct_entry *ct,
					      __u8 proto)
{
	__u32 sec = cfg->ct_timeout_other;

	if (proto == IPPROTO_TCP)
		sec = ct->flags & ZS_CT_CLOSING ? cfg->ct_timeout_tcp_closing :
						   cfg->ct_timeout_tcp;
	return (__u64)sec * ZS_NS_PER_SEC;
}

/* Finds the flow of the packet with tuple t on ifindex, original direction
 * first, then as a reply. key is left holding the entry's key. Entries idle
 * for longer than their timeout count as absent. */
static __always_inline int zs_ct_lookup(const struct zs_config *cfg,
					__u32 ifindex, const struct zs_tuple *t,
					__u8 tcp_flags, __u64 now, struct zs_ct_key *key,
					struct zs_ct_entry **entry)
{
	struct zs_ct_entry *ct;
	int found = ZS_CT_ORIGINAL;

	key->ifindex = ifindex;
	key->pad = 0;
	key->tuple = *t;
	ct = bpf_map_lookup_elem(&zs_conntrack, key);
	/* a bare SYN opens a flow, it never answers one */
	if (!ct && !(t->proto == IPPROTO_TCP && (tcp_flags & (ZS_TCP_SYN | ZS_TCP_ACK)) == ZS_TCP_SYN)) {
		zs_tuple_reverse(&key->tuple, t);
		ct = bpf_map_lookup_elem(&zs_conntrack, key);
		found = ZS_CT_REPLY;
	}
	if (!ct || now - ct->last_seen_ns > zs_ct_timeout_ns(cfg, ct, t->proto))
		return ZS_CT_NEW;
	*entry = ct;
	return found;
}

/* Per-packet accounting of an established flow. Plain adds: a flow is
 * handled by one CPU at a time in practice, and counters of a flow are
 * telemetry, not a security boundary. */
static __always_inline void zs_ct_account(struct zs_ct_entry *ct, int found,
					  const struct zs_packet *p, __u32 len,
					  __u64 now)
{
	int d = found == ZS_CT_REPLY;

	ct->packets[d]++;
	ct->bytes[d] += len;
	ct->tcp_flags[d] |= p->tcp_flags;
	if (p->tcp_flags & (ZS_TCP_FIN | ZS_TCP_RST))
		ct->flags |= ZS_CT_CLOSING;
	if (ct->last_seen_ns != now)
		ct->last_seen_ns = now;
}

#endif
