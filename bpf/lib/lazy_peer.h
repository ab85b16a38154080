/* SPDX-License-Identifier: Apache-2.0 */
/* A new flow's peer identity, looked up only when something needs it
 * (issue 16).
 *
 * The peer's identity (the ipcache: one probe per prefix length, each a
 * random key of a table of up to 100k+ prefixes) matters to the verdict
 * only through policy keys that name a peer. When zs_policy_filter
 * (policy_forms.h) says no key naming a peer has the form of any probe
 * of this flow (a port no rule opens or closes for a peer: a scan, a
 * flood to a closed port), the verdict is the same whatever the peer is:
 * it is judged with the peer ZS_PEER_UNRESOLVED, and only the forms with
 * ZS_ID_ANY are probed. The identity is then looked up where it is
 * reported: before an event is emitted (a deny within the event budget),
 * before the deny cache fills a slot, before a flow that passes is
 * tracked. A flood that empties the deny-event budget then makes neither
 * ipcache nor policy probes. Every verdict, reason, counter and event is
 * the one a full judgement gives: the filter has no false "absent". */
#ifndef ZS_BPF_LAZY_PEER_H
#define ZS_BPF_LAZY_PEER_H

#include "deny_fastpath.h"
#include "flow_ctx.h"
#include "ipcache_lookup.h"
#include "maps.h"
#include "policy_lookup.h"

/* 1 when some key naming a peer (any identity but ZS_ID_ANY) may match a
 * flow of subject in direction, proto and (policy) port: the peer's
 * identity can then decide. A global function: the verifier checks its
 * loop once, and its key takes no room in its callers' frames. */
__attribute__((noinline)) int zs_policy_needs_peer(const struct zs_lookup_plan *plan,
						   __u32 subject, __u32 direction,
						   __u32 proto, __u32 port)
{
	struct zs_policy_key key = {};
	__u32 i, n;

	if (!plan)
		return 1;
	key.subject = subject;
	key.direction = direction;
	key.peer = ZS_ID_WORLD; /* a form holds only whether the peer is any */
	n = plan->n_port_plens;
#pragma clang loop unroll(disable)
	for (i = 0; i < ZS_MAX_PORT_PLENS; i++) {
		__u8 plen;

		if (i >= n)
			break;
		plen = plan->port_plens[i];
		key.proto = proto;
		key.port_plen = plen;
		key.port = port & zs_port_mask(plen);
		if (zs_policy_may_hold(&key))
			return 1;
	}
	if (!(plan->flags & ZS_PLAN_ANY_PROTO))
		return 0;
	key.proto = ZS_PROTO_ANY;
	key.port_plen = 0;
	key.port = 0;
	return zs_policy_may_hold(&key);
}

/* The identity of the other end of a flow with tuple t (its source for a
 * flow in, its destination for one out), under generation (its slot the
 * plan's), through the ipcache memo (ipcache_memo.h: new flows only, never
 * a trace). A global function: zs_new_flow asks it at up to three places,
 * and inline each would be verified, and take stack, apart. */
__attribute__((noinline)) __u32 zs_peer_lookup(const struct zs_lookup_plan *plan, __u64 generation,
					       const struct zs_tuple *t, __u32 direction)
{
	const __u32 *addr;
	__u32 id;

	if (!plan || !t)
		return ZS_ID_WORLD;
	addr = (direction & 1) == ZS_DIR_INGRESS ? t->saddr : t->daddr;
	id = zs_ipcache_memo_get(t->family, addr, generation);
	if (id)
		return id;
	id = zs_ipcache_identity(plan, generation & 1, t->family, addr);
	zs_ipcache_memo_put(t->family, addr, id);
	return id;
}

/* Fills *peer unless it is known already. */
static __always_inline void zs_peer_resolve(const struct zs_config *cfg,
					    const struct zs_flow_ctx *fc,
					    const struct zs_tuple *t, __u8 direction,
					    __u32 *peer)
{
	if (*peer == ZS_PEER_UNRESOLVED)
		*peer = zs_peer_lookup(&cfg->plan[fc->slot & 1], fc->generation, t, direction);
}

#endif
