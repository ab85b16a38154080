/* SPDX-License-Identifier: Apache-2.0 */
/* Source address validation, the first check on an arriving packet
 * (include/zeroseg/source.h has the maps and the rules):
 *  - on a workload's interface (its egress) the source must be one of the
 *    workload's own addresses, inside its allowedSourcePrefixes (but
 *    not another workload's address carved out of them), IPv6
 *    link-local, :: for duplicate address detection and MLD, or 0.0.0.0
 *    for a DHCP request; else spoofed-source;
 *  - on a host uplink (the host's ingress) the source must not be a local
 *    workload's own address; else uplink-spoofed-source.
 * It runs before conntrack: a spoofed packet must not pass as a packet of
 * the real owner's established flow (a forged ACK or RST into it).
 *
 * Spoofed packets are dropped whatever the endpoint's policy modes (off
 * and audit included), as Cilium and Calico drop them: what a spoofed
 * source fools is not the sender's policy but the receiver's, which may
 * well enforce. An interface with no endpoint stays unmanaged and is not
 * checked. A workload with no addresses may send only from its
 * allowedSourcePrefixes and link-local addresses.
 *
 * Cost: one hash probe per arriving packet; a source that is not the
 * workload's own (a router's forwarded packets, or a spoof), and every
 * packet on an uplink, also reads the endpoint (from the memo:
 * endpoint_memo.h), and a workload's also the prefix trie, in a global
 * function checked once by the verifier. */
#ifndef ZS_BPF_SOURCE_CHECK_H
#define ZS_BPF_SOURCE_CHECK_H

#include "ctx.h"
#include "deny_fastpath.h"
#include "endpoint_memo.h"
#include "events.h"
#include "ipcache_lookup.h"
#include "maps.h"
#include "parse.h"

#define ZS_ICMPV6_MLD_REPORT 131
#define ZS_ICMPV6_MLD2_REPORT 143

/* Sources a workload may use without owning them: IPv6 link-local (on
 * the link only, and never a workload's identity: workload addresses are
 * never link-local, so the ipcache has none), :: for DAD and router
 * solicitation (zs_nd_class) and MLD reports, 0.0.0.0 for a DHCP request
 * to the broadcast address. All are judged by policy after. */
static __always_inline int zs_source_on_link(const struct zs_packet *p)
{
	const __u32 *s = p->tuple.saddr;

	if (p->tuple.family == ZS_FAMILY_IPV4)
		return !s[0] && p->tuple.proto == ZS_PROTO_UDP && p->tuple.daddr[0] == 0xffffffff &&
		       p->tuple.sport == bpf_htons(68) && p->tuple.dport == bpf_htons(67);
	if (zs_ip6_link_local(s))
		return 1;
	if (s[0] | s[1] | s[2] | s[3])
		return 0;
	if (p->neighbour_disc && zs_nd_class(p) == ZS_ND_LINK)
		return 1;
	return p->tuple.proto == ZS_PROTO_ICMPV6 && zs_ip6_link_multicast(p->tuple.daddr) &&
	       (p->icmp_type == ZS_ICMPV6_MLD_REPORT || p->icmp_type == ZS_ICMPV6_MLD2_REPORT);
}

/* Whether ifindex's allowedSourcePrefixes hold p's source in slot, and it
 * is not carved out of them. At most three entries cover an address
 * (source.h): another probe, at a shorter length than the last's, while
 * the entry found is absent in this slot.
 * An entry answers only its own family. IPv4 shares the trie as
 * ::ffff:0:0/96, where an IPv6 prefix over it (::/0) would allow every
 * IPv4 source, none carved out (the compiler carves per family): an IPv4
 * source stops at the first entry shorter than /96, an IPv6 one. And an
 * IPv6 source inside ::ffff:0:0/96 (IPv4-mapped, never on a wire, RFC
 * 4291 2.5.5.2) is allowed by no prefix: an IPv4 prefix would allow it,
 * and a dual-stack socket would see it as the IPv4 address. */
static __always_inline int zs_source_prefix_allowed(__u32 ifindex, __u32 slot,
						    const struct zs_packet *p)
{
	struct zs_source_prefix_key key = {
		.prefixlen = ZS_SOURCE_PREFIX_IFINDEX_BITS + 128,
		.ifindex = ifindex,
	};
	struct zs_source_prefix_value *v;
	int i;

	if (p->tuple.family == ZS_FAMILY_IPV4) {
		key.addr[2] = bpf_htonl(0xffff);
		key.addr[3] = p->tuple.saddr[0];
	} else {
		if (!p->tuple.saddr[0] && !p->tuple.saddr[1] &&
		    p->tuple.saddr[2] == bpf_htonl(0xffff))
			return 0;
		__builtin_memcpy(key.addr, p->tuple.saddr, 16);
	}
#pragma clang loop unroll(full)
	for (i = 0; i < ZS_SOURCE_PREFIX_PROBES; i++) {
		__u8 state;

		v = bpf_map_lookup_elem(&zs_source_prefixes, &key);
		if (!v)
			return 0;
		if (p->tuple.family == ZS_FAMILY_IPV4 &&
		    v->prefixlen < ZS_SOURCE_PREFIX_IFINDEX_BITS + 96)
			return 0;
		state = v->allowed[slot & 1];
		if (state != ZS_SOURCE_PREFIX_ABSENT)
			return state == ZS_SOURCE_PREFIX_ALLOWED;
		if (v->prefixlen <= ZS_SOURCE_PREFIX_IFINDEX_BITS)
			return 0;
		key.prefixlen = v->prefixlen - 1;
	}
	return 0;
}

/* Everything but an own address: returns 1 when p is spoofed (counted,
 * reported, to be dropped). hit is the sources map's kind for the source
 * in the slot packets read now. */
ZS_NOINLINE int zs_source_miss(struct zs_packet *p, __u32 ifindex, __u32 len, __u32 hook,
			       __u32 hit)
{
	const struct zs_config *cfg;
	struct zs_endpoint_value *epv;
	const struct zs_endpoint *ep;
	struct zs_judgement j = { .verdict = ZS_VERDICT_DENIED };
	struct zs_event_info info = { .type = ZS_EVENT_DENY, .peer = ZS_ID_WORLD };
	struct zs_tuple limiter = {};
	__u32 zero = 0, slot;

	cfg = bpf_map_lookup_elem(&zs_config, &zero);
	epv = bpf_map_lookup_elem(&zs_endpoints, &ifindex);
	if (!p || !cfg || !epv)
		return 0; /* unmanaged */
	slot = cfg->generation & 1;
	ep = &epv->slot[slot];
	if (!ep->identity)
		return 0;
	info.subject = ep->identity;
	info.direction = zs_hook_direction(hook, ep->kind);
	if (ep->kind == ZS_ATTACH_HOST) {
		if (hit != ZS_SOURCE_LOCAL)
			return 0;
		j.reason = ZS_REASON_UPLINK_SPOOFED_SOURCE;
	} else {
		if (zs_source_on_link(p) || zs_source_prefix_allowed(ifindex, slot, p))
			return 0;
		j.reason = ZS_REASON_SPOOFED_SOURCE;
		info.peer = zs_ipcache_identity(&cfg->plan[slot], slot, p->tuple.family,
						p->tuple.daddr);
	}
	zs_count(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, info.direction & 1), len);
	zs_count(ZS_CTR_REASON(j.reason), len);
	/* deny events are limited per source; a spoofer picks its sources, so
	 * its events are limited per interface: a key no real source has
	 * (0.0.0.ifindex followed by ones: not an IPv4 key, whose words 1-3
	 * are 0, nor a routable IPv6 address) */
	limiter.saddr[0] = ifindex;
	limiter.saddr[1] = limiter.saddr[2] = limiter.saddr[3] = 0xffffffff;
	if (zs_deny_event_allowed(cfg, &limiter, bpf_ktime_get_coarse_ns(), &info.suppressed))
		zs_emit(ifindex, hook, p, &j, &info);
	return 1;
}

/* 1 when the arriving packet p (parsed) is spoofed: drop it. An uplink's
 * every packet (its source is no local workload's) is decided here, by
 * the endpoint's kind, without a call of zs_source_miss. (The pipeline
 * reads the endpoint again, from the memo, rather than take this copy:
 * handed on, it grew the entry's frame by 24 bytes, and tc egress's
 * deepest call chain then took 528 of the verifier's 512.) */
static __always_inline int zs_source_spoofed(const struct zs_config *cfg,
					     const struct zs_ctx *ctx, struct zs_packet *p)
{
	struct zs_source_key key = {
		.ifindex = ctx->ifindex,
		.family = p->tuple.family,
	};
	struct zs_source_value *v;
	struct zs_endpoint ep;
	/* one read: the sources' slot and the endpoint's are the same one's */
	__u64 generation = *(volatile const __u64 *)&cfg->generation;
	__u32 slot = generation & 1, hit = ZS_SOURCE_NONE;

	if (ctx->hook == ZS_HOOK_TC_EGRESS)
		return 0;
	if (zs_sources_may_hold(cfg, slot, p->tuple.family)) {
		__builtin_memcpy(key.addr, p->tuple.saddr, 16);
		v = bpf_map_lookup_elem(&zs_sources, &key);
		if (v && v->kind[slot] == ZS_SOURCE_OWN)
			return 0;
		hit = v ? v->kind[slot] : ZS_SOURCE_NONE;
	}
	/* zs_source_miss's first answers, here: an unmanaged interface, and
	 * an uplink's source that is no local workload's (its every packet) */
	if (!zs_endpoint_memo_get(ctx->ifindex, generation, &ep) ||
	    (ep.kind == ZS_ATTACH_HOST && hit != ZS_SOURCE_LOCAL))
		return 0;
	return zs_source_miss(p, ctx->ifindex, ctx->len, ctx->hook, hit);
}

#endif
