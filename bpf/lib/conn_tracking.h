/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZS_BPF_CONN_TRACKING_H
#define ZS_BPF_CONN_TRACKING_H

#include "deny_fastpath.h"
#include "maps.h"
#include "parse.h"

/* Conntrack's clock: CLOCK_MONOTONIC_COARSE, read only when it may have
 * moved. The coarse clock moves once per tick, as jiffies do, but reading
 * it is a helper call (~5 ns, a sixth of the established path's budget)
 * where bpf_jiffies64() is inlined into a load. So a flow last seen in
 * this tick has not idled out and its last_seen_ns is the time now. (The
 * two move a moment apart at a tick; that can cost one tick of precision
 * in last_seen_ns, never a timeout seconds long.) */
struct zs_clock {
	__u64 jiffies;
	__u64 ns; /* 0 until read */
};

static __always_inline __u64 zs_clock_ns(struct zs_clock *clk)
{
	if (!clk->ns)
		clk->ns = bpf_ktime_get_coarse_ns();
	return clk->ns;
}

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

/* The key of the flow whose packets carry tuple t, on ifindex; reverse:
 * t is a reply's, so the flow's original tuple is t reversed. */
static __always_inline void zs_ct_key_of(struct zs_ct_key *key, __u32 ifindex,
					 const struct zs_tuple *t, int reverse)
{
	key->ifindex = ifindex;
	key->pad = 0;
	if (reverse)
		zs_tuple_reverse(&key->tuple, t);
	else
		key->tuple = *t;
}

/* An IPv4 flow is stored in zs_conntrack4 under the smaller zs_ct_key4,
 * an IPv6 flow in zs_conntrack6; everywhere else a flow is named by its
 * zs_ct_key. Each map has a call of its own, so the verifier can inline
 * the lookups. */
static __always_inline void zs_ct_key4_of(struct zs_ct_key4 *key4, __u32 ifindex,
					  const struct zs_tuple *t, int reverse)
{
	key4->ifindex = ifindex;
	key4->saddr = reverse ? t->daddr[0] : t->saddr[0];
	key4->daddr = reverse ? t->saddr[0] : t->daddr[0];
	key4->sport = reverse ? t->dport : t->sport;
	key4->dport = reverse ? t->sport : t->dport;
	key4->proto = t->proto;
	key4->pad[0] = key4->pad[1] = key4->pad[2] = 0;
}

/* Room for either key: a lookup's key lives in its caller's frame. */
union zs_ct_any_key {
	struct zs_ct_key key;
	struct zs_ct_key4 key4;
};

static __always_inline struct zs_ct_entry *zs_ct_find(union zs_ct_any_key *k,
						      __u32 ifindex,
						      const struct zs_tuple *t,
						      int reverse)
{
	struct zs_ct_entry *ct;

	if (t->family == ZS_FAMILY_IPV4) {
		zs_ct_key4_of(&k->key4, ifindex, t, reverse);
		ct = bpf_map_lookup_elem(&zs_conntrack4, &k->key4);
		zs_no_merge(ct);
		return ct;
	}
	zs_ct_key_of(&k->key, ifindex, t, reverse);
	return bpf_map_lookup_elem(&zs_conntrack6, &k->key);
}

static __always_inline struct zs_ct_entry *zs_ct_find_key(const struct zs_ct_key *key)
{
	struct zs_ct_key4 key4;

	if (key->tuple.family == ZS_FAMILY_IPV4) {
		zs_ct_key4_of(&key4, key->ifindex, &key->tuple, 0);
		return bpf_map_lookup_elem(&zs_conntrack4, &key4);
	}
	return bpf_map_lookup_elem(&zs_conntrack6, key);
}

/* Stores the flow under key with flags (BPF_NOEXIST: only on a free key,
 * BPF_ANY: also over an entry); 1 when stored. ct_charge.h's zs_ct_store
 * keeps the shares' counts with it. */
static __always_inline int zs_ct_update(const struct zs_ct_key *key,
					const struct zs_ct_entry *ct, __u64 flags)
{
	struct zs_ct_key4 key4;

	if (key->tuple.family == ZS_FAMILY_IPV4) {
		zs_ct_key4_of(&key4, key->ifindex, &key->tuple, 0);
		return !bpf_map_update_elem(&zs_conntrack4, &key4, ct, flags);
	}
	return !bpf_map_update_elem(&zs_conntrack6, key, ct, flags);
}

/* 1 when the flow was there and is removed */
static __always_inline int zs_ct_remove(const struct zs_ct_key *key)
{
	struct zs_ct_key4 key4;

	if (key->tuple.family == ZS_FAMILY_IPV4) {
		zs_ct_key4_of(&key4, key->ifindex, &key->tuple, 0);
		return !bpf_map_delete_elem(&zs_conntrack4, &key4);
	}
	return !bpf_map_delete_elem(&zs_conntrack6, key);
}

/* Per-endpoint shares of conntrack (zs_ct_usage in conntrack.h says what
 * the shares are and how the counts are kept true). One LRU for every
 * interface let a workload with broad egress fill it and so evict other
 * tenants' flows, whose replies were then dropped. With shares, an
 * endpoint at a share gets the new flows that share holds refused
 * (ZS_REASON_CT_ENDPOINT_LIMIT; the deny record's direction names the
 * share) while its established flows, its other share and everyone else's
 * go on. Cilium and Calico bound only the whole table (cilium/cilium#20068
 * describes the same eviction of live flows under a high connection rate;
 * projectcalico/felix#617 the same table filled by one VM). Counting per
 * endpoint, rather than an LRU per endpoint (map-in-map: one more lookup
 * on every packet, and a table per interface to size and create), keeps
 * the established path as it was: the count is read and written on a new
 * flow only. */

/* The count of the share that holds flows of family opened in direction
 * (zs_direction, relative to the endpoint). Constant offsets only: the
 * verifier then needs no bounds on family or direction. */
static __always_inline __u32 *zs_ct_share_count(struct zs_ct_usage *u, __u8 family,
						__u8 direction)
{
	if (zs_ct_table_of(family))
		return direction == ZS_DIR_EGRESS ? &u->entries[1][ZS_DIR_EGRESS]
						  : &u->entries[1][ZS_DIR_INGRESS];
	return direction == ZS_DIR_EGRESS ? &u->entries[0][ZS_DIR_EGRESS]
					  : &u->entries[0][ZS_DIR_INGRESS];
}

/* The counts of the endpoint on ifindex; with create, an endpoint that
 * has none gets them (NULL then only when the map is full: the agent's
 * recount adds it). */
static __always_inline struct zs_ct_usage *zs_ct_usage_of(__u32 ifindex, int create)
{
	struct zs_ct_usage *u = bpf_map_lookup_elem(&zs_ct_usage, &ifindex);
	struct zs_ct_usage zero = {};

	if (u || !create)
		return u;
	bpf_map_update_elem(&zs_ct_usage, &ifindex, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&zs_ct_usage, &ifindex);
}

/* A new flow of family opened in direction on the endpoint on ifindex
 * takes its place in that share: 0 when the share is full (nothing taken:
 * the flow is refused), else 1, the count one up. Taken before the flow
 * is stored (zs_ct_store hands a replaced entry's charge back): the check
 * and the charge read one lookup of the counts, where a check before the
 * insert and a charge after it looked them up twice per new flow (issue
 * 16). A count is read, then added to, as before: two CPUs at the last
 * place can both take it (one flow over the share, until the recount). */
static __always_inline int zs_ct_share_take(const struct zs_config *cfg, __u32 ifindex,
					    __u8 family, __u8 direction)
{
	__u32 max = zs_ct_table_of(family) ? cfg->ct_endpoint_share[1]
					   : cfg->ct_endpoint_share[0];
	struct zs_ct_usage *u = zs_ct_usage_of(ifindex, 1);
	__u32 *n;

	if (!u)
		return 1;
	n = zs_ct_share_count(u, family, direction);
	if (max && *n >= max)
		return 0;
	__sync_fetch_and_add(n, 1);
	return 1;
}

/* Tries of zs_ct_share_charge's take-off: each fails only when another
 * CPU moved the same count between its read and its swap. */
#define ZS_CT_UNCHARGE_TRIES 4

/* Takes one off the share of the endpoint on ifindex that holds flows of
 * family opened in direction: a flow revoked, or an entry replaced by a
 * flow of another share. Atomic: CPUs open and revoke flows of one
 * endpoint at once. A count never goes below 0: a take-off finds 0 when
 * the sweep's recount came first, and a check then a plain subtraction
 * let two CPUs that both read 1 wrap the count to UINT32_MAX, a share
 * full for every new flow until the next sweep. So it is a
 * compare-and-swap from the value read, retried a bounded number of times
 * (the verifier walks each try); a take-off that loses every try is
 * dropped: the count stays high by one, refusing early rather than late,
 * until the recount. */
static __always_inline void zs_ct_share_give_back(__u32 ifindex, __u8 family, __u8 direction)
{
	struct zs_ct_usage *u = zs_ct_usage_of(ifindex, 0);
	__u32 *n;
	int i;

	if (!u)
		return;
	n = zs_ct_share_count(u, family, direction);
#pragma clang loop unroll(full)
	for (i = 0; i < ZS_CT_UNCHARGE_TRIES; i++) {
		__u32 seen = *(volatile __u32 *)n;

		if (!seen || __sync_val_compare_and_swap(n, seen, seen - 1) == seen)
			return;
	}
}

/* Finds the flow of packet p on ifindex, original direction first, then as
 * a reply (ZS_CT_REPLY: the flow's key is p's tuple reversed), as its
 * ct_role allows. Entries idle for longer than their timeout count as
 * absent. k: room for the key (zs_related's is in zs_scratch: its frame
 * is in the deepest call chain). */
static __always_inline int zs_ct_lookup_in(const struct zs_config *cfg,
					   __u32 ifindex, const struct zs_packet *p,
					   struct zs_clock *clk,
					   struct zs_ct_entry **entry,
					   union zs_ct_any_key *k)
{
	const struct zs_tuple *t = &p->tuple;
	struct zs_ct_entry *ct = NULL;
	int found = ZS_CT_ORIGINAL;

	/* an ICMP reply answers its request's flow, it never opens one; a
	 * probe no flow can answer is skipped (deny_fastpath.h: asked twice,
	 * so nothing lives across the first probe to take stack) */
	if (p->ct_role != ZS_CT_ROLE_REPLY && (zs_ct_probes_for(t->dport) & ZS_CT_PROBE_OWN))
		ct = zs_ct_find(k, ifindex, t, 0);
	/* a bare SYN or an ICMP request opens a flow, it never answers one
	 * (an echo request would answer the peer's echo of the same id) */
	if (!ct && p->ct_role != ZS_CT_ROLE_REQUEST &&
	    !(t->proto == ZS_PROTO_TCP && (p->tcp_flags & (ZS_TCP_SYN | ZS_TCP_ACK)) == ZS_TCP_SYN) &&
	    (zs_ct_probes_for(t->dport) & ZS_CT_PROBE_REPLY)) {
		ct = zs_ct_find(k, ifindex, t, 1);
		found = ZS_CT_REPLY;
	}
	if (!ct)
		return ZS_CT_NEW;
	if (ct->last_seen_jiffies == clk->jiffies) {
		if (!clk->ns)
			clk->ns = ct->last_seen_ns;
	} else if (zs_clock_ns(clk) - ct->last_seen_ns >
		   zs_ct_timeout_ns(cfg, ct, t->proto)) {
		return ZS_CT_NEW;
	}
	*entry = ct;
	return found;
}

/* zs_ct_lookup_in with its key on the caller's stack. */
static __always_inline int zs_ct_lookup(const struct zs_config *cfg,
					__u32 ifindex, const struct zs_packet *p,
					struct zs_clock *clk,
					struct zs_ct_entry **entry)
{
	union zs_ct_any_key k;

	return zs_ct_lookup_in(cfg, ifindex, p, clk, entry, &k);
}

/* A tracked flow's verdict still holds: it was given under generation (the
 * current one) and its allowing rule has not expired. */
static __always_inline int zs_ct_current(const struct zs_ct_entry *ct, __u64 generation)
{
	return ct->generation == generation &&
	       !(ct->expires_tai && bpf_ktime_get_tai_ns() >= ct->expires_tai);
}

/* Per-packet accounting of an established flow. Plain adds: a flow is
 * handled by one CPU at a time in practice, and counters of a flow are
 * telemetry, not a security boundary. */
static __always_inline void zs_ct_account(struct zs_ct_entry *ct, int found,
					  const struct zs_packet *p, __u32 len,
					  struct zs_clock *clk)
{
	int d = found == ZS_CT_REPLY;

	ct->packets[d]++;
	ct->bytes[d] += len;
	ct->tcp_flags[d] |= p->tcp_flags;
	if (p->tcp_flags & (ZS_TCP_FIN | ZS_TCP_RST))
		ct->flags |= ZS_CT_CLOSING;
	if (ct->last_seen_jiffies != clk->jiffies) {
		ct->last_seen_ns = zs_clock_ns(clk);
		ct->last_seen_jiffies = clk->jiffies;
	}
}

#endif
