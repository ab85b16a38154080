/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZS_BPF_EVENTS_H
#define ZS_BPF_EVENTS_H

#include "deny_sources.h"
#include "maps.h"
#include "parse.h"
#include "policy_lookup.h"

struct zs_event_info {
	__u32 subject;
	__u32 peer;
	__u32 suppressed;
	__u8 type;
	__u8 direction;
};

/* The reader is woken once this much is waiting in the ring, not per
 * record. A wakeup is an irq_work (a self-IPI, a VM exit under a
 * hypervisor) and a task wakeup: with the agent reading, one per new flow
 * halved the connections/s a node passes (bench/tcp_paths.sh, issue 16).
 * Below the mark the records wait for the reader's own poll timeout (the
 * agent's is 100 ms); none is lost for it: the mark is 64 KiB (1/64 of the
 * default ring) or an eighth of a smaller ring. */
#define ZS_EVENTS_WAKEUP_BYTES (64 << 10)

/* Past the mark, a CPU forces a wakeup with its first record and then
 * with every ZS_EVENTS_WAKEUP_EVERY-th, not with each (issue 16): with
 * the reader behind a burst, a wakeup per record queued an irq_work per
 * new flow, ~6-7 us each here (bench/RESULTS.md, "A new flow while the
 * agent is behind").
 * A reader asleep with the ring past the mark is woken within that many
 * records of any one CPU (the first one past, when the CPU saw the ring
 * under the mark since its last wakeup), or at its own poll timeout. */
#define ZS_EVENTS_WAKEUP_EVERY 64

static __always_inline __u64 zs_event_wakeup(void)
{
	__u64 waiting = bpf_ringbuf_query(&zs_events, BPF_RB_AVAIL_DATA);
	__u32 zero = 0, *past = bpf_map_lookup_elem(&zs_event_pace, &zero);

	if (waiting < ZS_EVENTS_WAKEUP_BYTES &&
	    waiting * 8 < bpf_ringbuf_query(&zs_events, BPF_RB_RING_SIZE)) {
		if (past && *past)
			*past = 0; /* the next record past the mark wakes */
		return BPF_RB_NO_WAKEUP;
	}
	if (!past)
		return BPF_RB_FORCE_WAKEUP;
	return (*past)++ % ZS_EVENTS_WAKEUP_EVERY ? BPF_RB_NO_WAKEUP : BPF_RB_FORCE_WAKEUP;
}

static __always_inline void zs_emit(__u32 ifindex, __u8 hook, const struct zs_packet *p,
				    const struct zs_judgement *j,
				    const struct zs_event_info *info)
{
	struct zs_event *ev = bpf_ringbuf_reserve(&zs_events, sizeof(*ev), 0);

	if (!ev) {
		zs_count(ZS_CTR_EVENTS_LOST, 0);
		return;
	}
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
	bpf_ringbuf_submit(ev, zs_event_wakeup());
}

/* The coarse clock (CLOCK_MONOTONIC_COARSE) as this CPU read it in this
 * tick, read again only when jiffies moved: bpf_jiffies64() is inlined
 * into a load, the clock is a helper call, ~15 ns of a flood's packet on
 * the untracked deny's early look (bench/untracked_bench; conn_tracking.h's
 * zs_clock does the same for conntrack). The kernel moves jiffies a
 * moment before the coarse clock, so this can lag a fresh reading by a
 * tick, for a tick: the refills below take a time behind their bucket's
 * as no time passed. */
static __always_inline __u64 zs_deny_budget_now(struct zs_deny_budget *b)
{
	__u64 jiffies = bpf_jiffies64();

	if (b->tick_jiffies != jiffies || !b->tick_ns) {
		b->tick_ns = bpf_ktime_get_coarse_ns();
		b->tick_jiffies = jiffies;
	}
	return b->tick_ns;
}

/* The nanoseconds from last to now, for a refill: 0 when now is not
 * after last (clocks read a tick apart, or on another CPU: a difference
 * that wrapped refilled a bucket whole, attack review of session 25),
 * and at most max (no overflow in the refill's product). */
static __always_inline __u64 zs_refill_elapsed(__u64 now, __u64 last, __u64 max)
{
	__s64 elapsed = (__s64)(now - last);

	if (elapsed <= 0)
		return 0;
	return (__u64)elapsed > max ? max : (__u64)elapsed;
}

/* b refilled for the time since its last refill, at now (at most one
 * second's worth: its burst). */
static __always_inline void zs_deny_budget_fill(const struct zs_config *cfg,
						struct zs_deny_budget *b, __u64 now)
{
	__u64 rate = cfg->deny_events_per_cpu, elapsed, add;

	elapsed = zs_refill_elapsed(now, b->last_ns, ZS_NS_PER_SEC);
	if (!elapsed)
		return; /* the coarse clock moves once a tick: no division per packet */
	add = elapsed * rate / ZS_NS_PER_SEC;
	if (add) {
		b->tokens = b->tokens + add > rate ? rate : b->tokens + add;
		b->last_ns = now;
	}
}

/* This CPU's budget for deny events (NULL when there is no such budget),
 * refilled to now. Checked before the per-source bucket: a flood from more
 * sources than zs_deny_ratelimit holds made every packet insert a source
 * there (an LRU insert takes the LRU's locks) and report, ~4.7% of the
 * XDP_DROP floor on a veth (issue 16). Past the budget a denied packet
 * costs one per-CPU lookup here. */
static __always_inline struct zs_deny_budget *zs_deny_budget_refill(const struct zs_config *cfg,
								    __u64 now)
{
	__u32 zero = 0;
	struct zs_deny_budget *b;

	if (!cfg->deny_events_per_cpu)
		return NULL;
	b = bpf_map_lookup_elem(&zs_deny_budget, &zero);
	if (b)
		zs_deny_budget_fill(cfg, b, now);
	return b;
}

/* A deny the empty budget holds back: counted apart (the agent's
 * detection-blind alert reads deny-events-over-budget), and in its
 * source's slot of zs_deny_sources when it has one, so that the source's
 * next reported deny names it in `suppressed`: a flood that empties the
 * budget no longer hides how many probes a known scanner sent (attack
 * review 3). No lookup of the LRU, never an insert: past the budget a
 * flood costs the slot's line, whoever its sources are. */
static __always_inline void zs_deny_over_budget(const struct zs_config *cfg,
						const struct zs_deny_source_key *k)
{
	struct zs_deny_source_slot *s;

	zs_count(ZS_CTR_EVENTS_SUPPRESSED, 0);
	zs_count(ZS_CTR_EVENTS_OVER_BUDGET, 0);
	if (!cfg->deny_events_per_sec)
		return;
	s = zs_deny_source_find(k);
	if (s) /* atomic: a scanner's probes spread over CPUs are all counted */
		__sync_fetch_and_add(&s->suppressed, 1);
}

/* The source's bucket of deny events (zs_deny_ratelimit), refilled to
 * now; NULL when the source has none yet. */
static __always_inline struct zs_ratelimit *zs_deny_bucket(const struct zs_config *cfg,
							   const struct zs_deny_source_key *k,
							   __u64 now)
{
	struct zs_ratelimit *rl = bpf_map_lookup_elem(&zs_deny_ratelimit, k);
	__u64 refill;

	if (!rl)
		return NULL;
	/* (at most an hour's worth: a burst of more than 3600 x the rate
	 * refills no further at once; fewer reports, never more) */
	refill = zs_refill_elapsed(now, rl->last_ns, 3600 * ZS_NS_PER_SEC) * cfg->deny_events_per_sec /
		 ZS_NS_PER_SEC;
	if (refill) {
		__u64 tokens = rl->tokens + refill;

		rl->tokens = tokens > cfg->deny_events_burst ? cfg->deny_events_burst : tokens;
		rl->last_ns = now;
	}
	return rl;
}

/* What becomes of a deny's event, decided (and a hold started) before any
 * token is taken. */
enum zs_deny_fate {
	ZS_DENY_REPORT = 0,	  /* it may go out (zs_deny_event_allowed takes the tokens) */
	ZS_DENY_HELD = 1,	  /* its source has no token: counted in *held */
	ZS_DENY_OVER_BUDGET = 2, /* this CPU's budget is spent */
};

/* The nanoseconds from a bucket's refill to its next token: zs_deny_bucket
 * adds one once elapsed * rate reaches a second (rate: not 0). */
static __always_inline __u64 zs_deny_ns_per_token(const struct zs_config *cfg)
{
	__u64 rate = cfg->deny_events_per_sec;

	return (ZS_NS_PER_SEC + rate - 1) / rate;
}

/* The fate of a deny from saddr at now, with this CPU's budget (NULL:
 * none) refilled; *rl: the source's bucket, when it was looked up; *held:
 * where a held deny is counted. The budget is checked first: past it, no
 * lookup of the per-source table. Then the source's slot of
 * zs_deny_sources (deny_sources.h; slots are claimed only where there is
 * a budget): while it holds the source, no lookup of the LRU either (~22
 * ns a packet of a flood from few sources: bench/untracked_bench). A
 * bucket found empty starts that hold, until its next token is due. A
 * source with a slot has its held denies counted there, which its next
 * report claims; one without, in its bucket. */
static __always_inline int zs_deny_event_fate(const struct zs_config *cfg,
					      const struct zs_deny_budget *budget,
					      const struct zs_deny_source_key *k, __u64 now,
					      struct zs_ratelimit **rl, __u32 **held)
{
	struct zs_deny_source_slot *s = NULL;

	*rl = NULL;
	*held = NULL;
	if (budget && !budget->tokens)
		return ZS_DENY_OVER_BUDGET;
	if (!cfg->deny_events_per_sec)
		return ZS_DENY_REPORT;
	if (budget) {
		s = zs_deny_source_find(k);
		if (s && zs_deny_source_held(s, now)) {
			*held = &s->suppressed;
			return ZS_DENY_HELD;
		}
	}
	*rl = zs_deny_bucket(cfg, k, now);
	if (!*rl || (*rl)->tokens)
		return ZS_DENY_REPORT;
	/* (the slot still its own: another source may have taken it over
	 * since it was found) */
	if (!s || !zs_deny_source_is(s, k)) {
		*held = &(*rl)->suppressed;
		return ZS_DENY_HELD;
	}
	/* the bucket gets no token before its last refill and one token's
	 * time: till then the slot holds the source */
	s->held_until = (*rl)->last_ns + zs_deny_ns_per_token(cfg);
	*held = &s->suppressed;
	return ZS_DENY_HELD;
}

/* A held deny, counted where zs_deny_event_fate said (atomic: a source's
 * flood spread over CPUs is counted whole), for the source's next
 * reported deny to name in `suppressed`; the caller counts it under
 * events-suppressed. (held is never NULL with ZS_DENY_HELD.) */
static __always_inline void zs_deny_count_held(__u32 *held)
{
	if (held)
		__sync_fetch_and_add(held, 1);
}

/* Token bucket per source address for deny events, within this CPU's
 * budget (zs_deny_budget_refill): returns 1 when this deny may be
 * reported, and how many of this source's were suppressed since its last
 * report, by its bucket or by the budget (zs_deny_over_budget). */
static __always_inline int zs_deny_event_allowed(const struct zs_config *cfg,
						 const struct zs_tuple *t, __u64 now,
						 __u32 *suppressed)
{
	struct zs_deny_budget *budget = zs_deny_budget_refill(cfg, now);
	struct zs_deny_source_key k = { .family = t->family };
	struct zs_ratelimit *rl, fresh = {};
	__u32 *held;

	__builtin_memcpy(k.addr, t->saddr, sizeof(k.addr));
	switch (zs_deny_event_fate(cfg, budget, &k, now, &rl, &held)) {
	case ZS_DENY_OVER_BUDGET:
		zs_deny_over_budget(cfg, &k);
		return 0;
	case ZS_DENY_HELD:
		zs_deny_count_held(held);
		zs_count(ZS_CTR_EVENTS_SUPPRESSED, 0);
		return 0;
	}
	if (budget)
		budget->tokens--;
	if (!cfg->deny_events_per_sec)
		return 1;
	if (!rl) {
		fresh.last_ns = now;
		fresh.tokens = cfg->deny_events_burst ? cfg->deny_events_burst - 1 : 0;
		bpf_map_update_elem(&zs_deny_ratelimit, &k, &fresh, BPF_ANY);
		/* slots are kept only where there is a budget; a source whose
		 * bucket the LRU evicted still has its held count in its slot */
		if (budget)
			*suppressed = zs_deny_source_claim(&k);
		return 1;
	}
	rl->tokens--;
	*suppressed = rl->suppressed ? __sync_lock_test_and_set(&rl->suppressed, 0) : 0;
	if (budget) /* (its slot again, if another source took it) */
		*suppressed += zs_deny_source_claim(&k);
	return 1;
}

#endif
