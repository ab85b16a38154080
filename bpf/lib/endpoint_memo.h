/* SPDX-License-Identifier: Apache-2.0 */
/* The endpoints read last, remembered per CPU (issue 16). Every packet
 * not of a current flow reads its interface's endpoint twice (the source
 * check, then the pipeline), and each read of zs_endpoints is a call into
 * the kernel's hash map: the key hashed, a bucket walked, the key
 * compared. Cut one step at a time out of a denied packet's path, each
 * read cost the receiver 50-100 ns of its ~450 (bench/RESULTS.md, "The
 * endpoint, remembered"); a per-CPU array is read inline.
 *
 * A slot answers only under the generation whose slot of zs_endpoints it
 * copied. That slot does not change while its generation is current: a
 * change of an endpoint writes the other slot and moves the generation on
 * (Transaction::commit), and the retired slot is rewritten only after a
 * grace period, when no program that read the old generation still runs.
 * Emptied by the agent at a load that makes zs_config anew, with the
 * other memos (verdict_memo.h: generations start again).
 *
 * Direct-mapped by ifindex, per CPU, 16 slots of 24 bytes, written field
 * by field, generation last. XDP and tc programs do not nest on a CPU
 * (verdict_memo.h); a trace (BPF_PROG_TEST_RUN, which a softirq may
 * interrupt) reads zs_endpoints itself. An interface with no endpoint is
 * not remembered: it is asked each time, as before. */
#ifndef ZS_BPF_ENDPOINT_MEMO_H
#define ZS_BPF_ENDPOINT_MEMO_H

#include "common.h"
#include "maps.h"

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

/* As zs_endpoint_lookup, answered from this CPU's memo when it can be. */
static __always_inline int zs_endpoint_get(__u32 ifindex, __u64 generation,
					   struct zs_endpoint *ep)
{
	__u32 zero = 0;
	struct zs_endpoint_memo *m = bpf_map_lookup_elem(&zs_endpoint_memo, &zero);
	struct zs_endpoint_memo_slot *s;
	const struct zs_endpoint_value *epv;

	if (!m)
		return zs_endpoint_lookup(ifindex, generation, ep);
	s = &m->slot[ifindex & (ZS_ENDPOINT_MEMO_SLOTS - 1)];
	if (generation && s->generation == generation && s->ifindex == ifindex) {
		*ep = s->endpoint;
		return ep->identity != 0;
	}
	epv = bpf_map_lookup_elem(&zs_endpoints, &ifindex);
	if (!epv)
		return 0;
	*ep = epv->slot[generation & 1];
	s->generation = 0;
	s->ifindex = ifindex;
	s->endpoint = *ep;
	s->generation = generation;
	return ep->identity != 0;
}

#endif
