/* SPDX-License-Identifier: Apache-2.0 */
/* The endpoints read last, remembered per CPU (issue 16). A packet on an
 * uplink, or from a source not its workload's own, reads its interface's
 * endpoint in the source check (zs_source_spoofed); a packet not of a
 * current flow reads it again in the pipeline (zs_endpoint_flow_ctx); a
 * source an untracked deny names, for the uplink's mode (untracked_deny.h).
 * Each read of zs_endpoints is a call into the kernel's hash map: the key
 * hashed, a bucket walked, the key compared. Cut one step at a time out
 * of a denied packet's path on a veth, each read cost the receiver 50-100
 * ns of its ~450 (bench/RESULTS.md, "The deny path step by step"); a
 * per-CPU array is read inline. zs_source_miss (a spoof's path) and
 * zs_endpoint_kind (a new allowed flow's) still read the map.
 *
 * A slot answers only under the generation whose slot of zs_endpoints it
 * copied. That slot does not change while its generation is current: a
 * change of an endpoint writes the other slot and moves the generation on
 * (Transaction::commit), and the retired slot is rewritten only after a
 * grace period, when no program that read the old generation still runs.
 * Emptied by the agent at a load that makes zs_config anew, with the
 * other memos (verdict_memo.h: generations start again), and at a load
 * beside a zs_config other than the one zs_endpoint_memo_config names: a
 * version that knew no endpoint memo made it, after a rollback that left
 * this memo pinned, and counts generations from the start again. No
 * program of such a version writes this memo, so emptying it tears no
 * slot.
 *
 * What is copied must be the interface's own: zs_endpoints is a
 * preallocated hash, and a write (a commit's, or the levelling of the
 * retired slot under the current generation) replaces an element, which
 * the next write may take at once for another key. A program holding the
 * replaced element would copy that key's endpoint. Once, that is one
 * packet's misreading (as any read of the map risks); remembered, it would
 * last the generation. So a copy is remembered only when the interface's
 * element, looked up again after the copy, says the same: to remember a
 * wrong one, the element found again must itself be taken in that window.
 *
 * Direct-mapped by ifindex, per CPU, overwritten on a collision: 16 slots
 * of 24 bytes. XDP and tc programs do not nest on a CPU (verdict_memo.h);
 * a trace (BPF_PROG_TEST_RUN, which a softirq may interrupt) reads the map
 * (ZS_ENDPOINT_FROM_MAP). An interface with no entry in zs_endpoints is
 * not remembered (it is asked each time); an entry empty in this
 * generation's slot is remembered as empty. */
#ifndef ZS_BPF_ENDPOINT_MEMO_H
#define ZS_BPF_ENDPOINT_MEMO_H

#include "common.h"
#include "maps.h"

/* Where an endpoint may be read from. */
enum zs_endpoint_from {
	ZS_ENDPOINT_FROM_MAP,  /* zs_endpoints: a trace, which a packet's program may interrupt */
	ZS_ENDPOINT_FROM_MEMO, /* this CPU's memo, else the map: the datapath */
};

/* ifindex's endpoint in generation's slot, read from zs_endpoints: 1 and
 * *ep, or 0 when the interface has none. */
static __always_inline int zs_endpoint_lookup(__u32 ifindex, __u64 generation,
					      struct zs_endpoint *ep)
{
	const struct zs_endpoint_value *epv = bpf_map_lookup_elem(&zs_endpoints, &ifindex);

	if (!epv)
		return 0;
	*ep = epv->slot[generation & 1];
	return ep->identity != 0;
}

static __always_inline int zs_endpoint_same(const struct zs_endpoint *a, const struct zs_endpoint *b)
{
	return a->identity == b->identity && a->kind == b->kind && a->mode[0] == b->mode[0] &&
	       a->mode[1] == b->mode[1];
}

/* A miss of slot s: ifindex's endpoint read from zs_endpoints into *ep,
 * and filed in s when the copy is the interface's own (above). A
 * subprogram: its keys take no room in the entry's frame, of which tc
 * egress's deepest call chain has none left. */
static ZS_NOINLINE int zs_endpoint_memo_fill(struct zs_endpoint_memo_slot *s, __u32 ifindex,
					     __u64 generation, struct zs_endpoint *ep)
{
	const struct zs_endpoint_value *epv = bpf_map_lookup_elem(&zs_endpoints, &ifindex);

	if (!s || !ep || !epv)
		return 0; /* no entry: not remembered */
	*ep = epv->slot[generation & 1];
	/* the interface's element again: the copy is its own (above) */
	epv = bpf_map_lookup_elem(&zs_endpoints, &ifindex);
	if (!epv)
		return 0; /* removed since: no entry */
	if (!zs_endpoint_same(&epv->slot[generation & 1], ep)) {
		/* the first copy may be another key's: this packet takes the
		 * second, which is not remembered either */
		*ep = epv->slot[generation & 1];
		return ep->identity != 0;
	}
	s->ifindex = ifindex;
	s->endpoint = *ep;
	s->generation = generation; /* last: a slot half written is no one's */
	return ep->identity != 0;
}

/* As zs_endpoint_lookup, answered from this CPU's memo when it can be. */
static __always_inline int zs_endpoint_memo_get(__u32 ifindex, __u64 generation,
						struct zs_endpoint *ep)
{
	__u32 zero = 0;
	struct zs_endpoint_memo *m = bpf_map_lookup_elem(&zs_endpoint_memo, &zero);
	struct zs_endpoint_memo_slot *s;

	if (!m)
		return zs_endpoint_lookup(ifindex, generation, ep);
	s = &m->slot[ifindex & (ZS_ENDPOINT_MEMO_SLOTS - 1)];
	if (generation && s->generation == generation && s->ifindex == ifindex) {
		*ep = s->endpoint;
		return ep->identity != 0;
	}
	return zs_endpoint_memo_fill(s, ifindex, generation, ep);
}

/* ifindex's endpoint from where `from` says (zs_endpoint_lookup). */
static __always_inline int zs_endpoint_read(__u32 ifindex, __u64 generation,
					    enum zs_endpoint_from from, struct zs_endpoint *ep)
{
	return from == ZS_ENDPOINT_FROM_MEMO ? zs_endpoint_memo_get(ifindex, generation, ep)
					     : zs_endpoint_lookup(ifindex, generation, ep);
}

#endif
