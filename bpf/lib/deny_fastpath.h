/* SPDX-License-Identifier: Apache-2.0 */
/* Probes a packet of a flood can skip (issue 16). A flood from random
 * sources and ports misses every cache: what it costs is the hash probes
 * it makes at random keys before it is known to be denied, each a cache
 * miss in a table of up to millions of buckets. Four of them can be
 * answered, exactly, by something small and hot:
 *
 *  - the ipcache's probe of a prefix length, when the key's bit in
 *    zs_ipcache_blocks (a bit per block of every key ever written, set by
 *    the agent first, never cleared: ipcache.h) is clear;
 *  - the source check's probe of zs_sources, when no entry of the packet's
 *    family is in the slot packets read (ZS_PLAN_SOURCES_V4/V6, counted by
 *    the agent per slot with the lookup plan, so it flips with the entries
 *    it describes): the probe could only miss;
 *  - conntrack's probes: a flow's key holds its first packet's ports, so
 *    a packet to port P is found as the flow's own only if some flow was
 *    ever tracked whose first packet went to P, and as a reply (its tuple
 *    reversed) only if some flow's first packet came from P.
 *    zs_ct_origin_ports has both bits per port, set before the insert of
 *    every flow and never cleared (a set bit costs the probe, never a
 *    verdict). A flood to a port no tracked flow used makes no conntrack
 *    probe; to a served port, one (its own) instead of two; every flow
 *    still finds its packets and its replies;
 *  - the policy's probe of a key whose form (the key but its peer: the
 *    subject, direction, protocol and port prefix) no key ever written
 *    had: its bit in zs_policy_filter (policy_forms.h) is clear. And when
 *    no form naming a peer can match, the flow's verdict cannot depend on
 *    its peer: its ipcache probes wait until something reports the peer
 *    (lazy_peer.h).
 *
 * None changes a verdict, a reason or an event: each skips a probe
 * whose answer is known to be "absent". (Ordering policy before conntrack
 * would not be exact: a stale flow is revoked, with an event, by its next
 * packet; and an allowed reply decides before any policy.) */
#ifndef ZS_BPF_DENY_FASTPATH_H
#define ZS_BPF_DENY_FASTPATH_H

#include "maps.h"
#include "parse.h"

/* Whether bit is set in filter, an array of __u64 (a missing word: set). */
static __always_inline int zs_filter_has_bit(void *filter, __u32 bit)
{
	__u32 idx = bit >> 6;
	const __u64 *w = bpf_map_lookup_elem(filter, &idx);

	return !w || (*w >> (bit & 63) & 1);
}

/* 0 when zs_ipcache cannot hold key: its bit in zs_ipcache_blocks is
 * clear (ipcache.h). */
static __always_inline int zs_ipcache_may_hold(const struct zs_ipcache_key *key)
{
	return zs_filter_has_bit(&zs_ipcache_blocks, zs_ipcache_filter_bit(key));
}

/* 0 when zs_policy cannot hold key: its form's bit in zs_policy_filter is
 * clear (policy_forms.h). */
static __always_inline int zs_policy_may_hold(const struct zs_policy_key *key)
{
	return zs_filter_has_bit(&zs_policy_filter, zs_policy_form_bit(key));
}

/* 1 when zs_sources may hold an entry of family in slot. */
static __always_inline int zs_sources_may_hold(const struct zs_config *cfg, __u32 slot,
					       __u8 family)
{
	__u8 flags = cfg->plan[slot & 1].flags;

	return family == ZS_FAMILY_IPV4 ? flags & ZS_PLAN_SOURCES_V4 : flags & ZS_PLAN_SOURCES_V6;
}

/* zs_ct_origin_ports' entry for port (network order, as keys hold it: the
 * order does not matter, only that it is the same) and its bit there. */
static __always_inline struct zs_ct_port_bits *zs_ct_port_bits_of(__u16 port, __u64 *bit)
{
	__u32 idx = port >> 6;

	*bit = 1ULL << (port & 63);
	return bpf_map_lookup_elem(&zs_ct_origin_ports, &idx);
}

/* Before a flow whose first packet went from sport to dport is inserted. */
static __always_inline void zs_ct_origin_ports_mark(__u16 sport, __u16 dport)
{
	__u64 bit;
	struct zs_ct_port_bits *b = zs_ct_port_bits_of(sport, &bit);

	if (b && !(b->as_source & bit))
		__sync_fetch_and_or(&b->as_source, bit);
	b = zs_ct_port_bits_of(dport, &bit);
	if (b && !(b->as_dest & bit))
		__sync_fetch_and_or(&b->as_dest, bit);
}

/* Which of conntrack's probes for a packet to port can find a flow. */
enum zs_ct_probe {
	ZS_CT_PROBE_OWN = 1,   /* as the flow's own: some flow's first packet went to port */
	ZS_CT_PROBE_REPLY = 2, /* as a reply: some flow's first packet came from port */
};

/* A global function: its map key takes no room in the frames of its
 * callers, which the deepest call chain (the entry, zs_related,
 * zs_rejudge, zs_policy_probe) has none left of in the 512 bytes the
 * verifier allows all frames together; and the verifier checks it once. */
__attribute__((noinline)) int zs_ct_probes_for(__u32 port)
{
	__u64 bit;
	const struct zs_ct_port_bits *b = zs_ct_port_bits_of(port, &bit);

	if (!b)
		return ZS_CT_PROBE_OWN | ZS_CT_PROBE_REPLY;
	return (b->as_dest & bit ? ZS_CT_PROBE_OWN : 0) | (b->as_source & bit ? ZS_CT_PROBE_REPLY : 0);
}

#endif
