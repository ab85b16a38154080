/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZS_BPF_EVENT_STAGE_H
#define ZS_BPF_EVENT_STAGE_H

#include "events.h"

/* Flow-start records are staged per CPU and reach the ring
 * ZS_EVENTS_STAGED at a time, in one ring record (issue 16). A reserve and
 * submit per new flow touched the ring's lock, its positions and a fresh
 * slot, lines the reader's CPU had just read: ~280-360 ns of a new flow's
 * ~1 us over the floor (bench/RESULTS.md, "A new allowed flow, piece by
 * piece"). A CPU's stage stays in its own cache; the ring is touched once
 * per batch.
 *
 * Nothing waits longer than the reader's poll timeout: the loader's
 * EventRing runs zs_event_flush on every CPU (BPF_PROG_TEST_RUN with
 * BPF_F_TEST_RUN_ON_CPU: an IPI, so it runs on that CPU, between or in the
 * middle of that CPU's packets, never beside them) when a poll times out
 * and at least once per timeout while records keep coming. `busy` is set
 * while a packet writes the stage: a flush that lands inside it leaves the
 * stage as it is (returns 1) and the loader runs it again. Only the stage's
 * own CPU ever touches it, so no lock is needed; the compiler's barriers
 * keep busy's stores around the writes.
 *
 * A batch the ring refuses is counted in ZS_CTR_EVENTS_LOST, per record. */

static __always_inline void zs_event_stage_lost(__u32 n)
{
	for (__u32 i = 0; i < ZS_EVENTS_STAGED; i++)
		if (i < n)
			zs_count(ZS_CTR_EVENTS_LOST, 0);
}

/* Hands the stage's count records to the ring as one record. */
static __always_inline void zs_event_stage_out(struct zs_event_stage *st, __u32 n, __u64 flags)
{
	if (n > ZS_EVENTS_STAGED)
		return;
	if (n && bpf_ringbuf_output(&zs_events, st->ev, n * sizeof(struct zs_event), flags))
		zs_event_stage_lost(n);
	st->count = 0;
}

/* zs_emit's twin for flow starts: the record is built in this CPU's stage
 * and the full stage goes out in one ring record. */
static __always_inline void zs_emit_staged(__u32 ifindex, __u8 hook, const struct zs_packet *p,
					   const struct zs_judgement *j,
					   const struct zs_event_info *info)
{
	__u32 zero = 0, n;
	struct zs_event_stage *st = bpf_map_lookup_elem(&zs_event_stage, &zero);
	struct zs_event *ev;

	if (!st) {
		zs_emit(ifindex, hook, p, j, info);
		return;
	}
	st->busy = 1;
	barrier();
	n = st->count;
	if (n >= ZS_EVENTS_STAGED)
		n = 0; /* never: a full stage went out with its last record */
	ev = &st->ev[n];
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = info->type;
	ev->verdict = j->verdict;
	ev->reason = j->reason;
	ev->direction = info->direction;
	ev->ifindex = ifindex;
	ev->subject = info->subject;
	ev->peer = info->peer;
	ev->rule_id = j->rule_id;
	ev->suppressed = info->suppressed;
	ev->icmp_type = p->icmp_type;
	ev->icmp_code = p->icmp_code;
	ev->tcp_flags = p->tcp_flags;
	ev->hook = hook;
	ev->pad = 0;
	ev->tuple = p->tuple;
	st->count = ++n;
	if (n == ZS_EVENTS_STAGED)
		zs_event_stage_out(st, n, zs_event_wakeup());
	barrier();
	st->busy = 0;
}

/* Run by the loader on each CPU (see above): this CPU's staged records
 * out now. Returns 1 when a packet was writing the stage (try again). */
static __always_inline int zs_event_flush_stage(void)
{
	__u32 zero = 0;
	struct zs_event_stage *st = bpf_map_lookup_elem(&zs_event_stage, &zero);

	if (!st)
		return 0;
	if (st->busy)
		return 1;
	zs_event_stage_out(st, st->count, BPF_RB_NO_WAKEUP); /* its reader reads next */
	return 0;
}

#endif
