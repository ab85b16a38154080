/* SPDX-License-Identifier: Apache-2.0 */
/* Which share pays for a new conntrack entry (conntrack.h, zs_ct_usage).
 *
 * A host uplink is an endpoint with shares of its own, and every flow
 * between a local workload and the outside crosses it. Charged there too,
 * one workload opening flows out (each within its own egress share) filled
 * the uplink's egress share, and clients let in to one workload its
 * ingress share: the uplink then refused every other workload's new flows
 * (attack review 3). So on an uplink a flow whose inner end is a local
 * workload is in no share of the uplink's (ZS_CT_UNCHARGED) and is never
 * refused for the uplink's share; the workload's own interface charges it
 * to, and refuses it by, the workload's share:
 *  - leaving by the uplink (tc egress): it arrived on a workload's
 *    interface (skb->ingress_ifindex names a workload endpoint), whose
 *    hook judged and charged it before it was forwarded. The source
 *    address would not do: the host itself may send from a local
 *    workload's address (IP_FREEBIND needs no privilege) and a host
 *    process would then be in no share at all; so may an unmanaged
 *    interface. Those stay the uplink's;
 *  - arriving on the uplink (XDP, tc ingress): its destination is a local
 *    workload's address (zs_sources: ZS_SOURCE_LOCAL on the uplink, what
 *    the source check reads), where it is routed, to be judged and
 *    charged on the workload's interface. A source claiming to be local
 *    is dropped before (uplink-spoofed-source). Not a packet the host
 *    will not forward for its TTL (hop limit) of 1 or 0: the sender
 *    picks it, and the workload's interface would never see the flow;
 *    it stays the uplink's.
 * An arriving flow the workload's interface then refuses (its policy, or
 * its share full) would leave the uplink an entry in no share, for its
 * SYN-SENT or UDP timeout: a peer the uplink lets in could fill the
 * table with flows the workload refuses. So the refusal removes the
 * uplink's entry too (zs_ct_forget_uplink): an uplink's entry in no share
 * stands for a flow the workload accepted and charged, bar one dropped
 * between the two hooks (a host firewall, no route: README, Known limits),
 * which lives its timeout. */
#ifndef ZS_BPF_CT_CHARGE_H
#define ZS_BPF_CT_CHARGE_H

#include "conn_tracking.h"
#include "flow_ctx.h"
#include "maps.h"
#include <zeroseg/source.h>

/* The kind of the endpoint on ifindex in slot; -1 when there is none. */
static __always_inline int zs_endpoint_kind(__u32 ifindex, __u8 slot)
{
	struct zs_endpoint_value *epv;
	const struct zs_endpoint *ep;

	if (!ifindex)
		return -1;
	epv = bpf_map_lookup_elem(&zs_endpoints, &ifindex);
	if (!epv)
		return -1;
	ep = &epv->slot[slot & 1];
	return ep->identity ? ep->kind : -1;
}

/* ZS_CT_UNCHARGED when a new flow of packet p on fc's endpoint is charged
 * to a local workload's share rather than the endpoint's (above): only
 * ever on a host uplink; else 0. Global functions, this one and
 * zs_ct_forget_uplink: checked once by the verifier, not once per state
 * of zs_new_flow (inline, they added ~100k verified instructions). */
ZS_NOINLINE int zs_ct_inner_workload(struct zs_flow_ctx *fc, struct zs_packet *p)
{
	struct zs_source_key key = {};
	struct zs_source_value *v;
	const struct zs_config *cfg;
	__u32 zero = 0;

	if (!fc || !p || fc->kind != ZS_ATTACH_HOST)
		return 0;
	if (fc->hook == ZS_HOOK_TC_EGRESS)
		return zs_endpoint_kind(fc->from_ifindex, fc->slot) == ZS_ATTACH_WORKLOAD ?
			       ZS_CT_UNCHARGED : 0;
	/* the host forwards no packet that arrives with TTL (hop limit) 1
	 * or 0: the workload's interface never sees it, to charge or refuse
	 * it, and any sender picks it (attack review 4): it stays the
	 * uplink's */
	if (p->hop_limit <= 1)
		return 0;
	/* no address of the family in zs_sources in this slot (no local
	 * workload of the family): the probe could only miss (deny_fastpath.h).
	 * Each new flow in by the uplink paid it (~100 ns, issue 16) */
	cfg = bpf_map_lookup_elem(&zs_config, &zero);
	if (cfg && !zs_sources_may_hold(cfg, fc->slot, p->tuple.family))
		return 0;
	key.ifindex = fc->ifindex;
	key.family = p->tuple.family;
	__builtin_memcpy(key.addr, p->tuple.daddr, 16);
	v = bpf_map_lookup_elem(&zs_sources, &key);
	return v && v->kind[fc->slot & 1] == ZS_SOURCE_LOCAL ? ZS_CT_UNCHARGED : 0;
}

/* Stores the new flow ct under key and keeps the counts: a charged ct
 * has taken its place in its share already (zs_ct_share_take); an entry
 * replaced on the same key (a flow that idled out) gives its place back.
 * Its ports are marked first, so that the lookups deny_fastpath.h skips
 * find it. */
static __always_inline void zs_ct_store(const struct zs_ct_key *key,
					const struct zs_ct_entry *ct)
{
	struct zs_ct_entry *old;
	int was = -1; /* the replaced entry's charged direction */

	zs_ct_origin_ports_mark(key->tuple.sport, key->tuple.dport);
	if (zs_ct_update(key, ct, BPF_NOEXIST))
		return;
	old = zs_ct_find_key(key);
	if (old && zs_ct_charged(old))
		was = old->direction;
	zs_ct_update(key, ct, BPF_ANY);
	if (was >= 0)
		zs_ct_share_give_back(key->ifindex, key->tuple.family, was);
}

/* A workload's interface refused a new flow that came in by the uplink on
 * from_ifindex (tc egress: the workload's ingress): the uplink's entry for
 * it, in no share, goes too (above); 1 when it went. A charged entry there
 * is the host's own and stays. */
ZS_NOINLINE int zs_ct_forget_uplink(struct zs_flow_ctx *fc, struct zs_packet *p)
{
	struct zs_ct_key key;
	struct zs_ct_entry *ct;

	if (!fc || !p || fc->kind != ZS_ATTACH_WORKLOAD || fc->hook != ZS_HOOK_TC_EGRESS ||
	    zs_endpoint_kind(fc->from_ifindex, fc->slot) != ZS_ATTACH_HOST)
		return 0;
	zs_ct_key_of(&key, fc->from_ifindex, &p->tuple, 0);
	ct = zs_ct_find_key(&key);
	return ct && !zs_ct_charged(ct) && zs_ct_remove(&key);
}

#endif
