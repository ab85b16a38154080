/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZEROSEG_EVENT_H
#define ZEROSEG_EVENT_H

#include "types.h"
#include "conntrack.h"

enum zs_event_type {
	ZS_EVENT_FLOW_NEW = 1, /* first packet of an allowed or audited flow */
	ZS_EVENT_DENY = 2,     /* a denied packet (rate-limited per source) */
	ZS_EVENT_REVOKED = 3,  /* an established flow cut by a policy change */
};

/* One ring buffer record. Emitted per new flow and per deny, never per
 * packet of an established flow. */
struct zs_event {
	__u64 ts_ns;       /* CLOCK_MONOTONIC */
	__u8 type;         /* zs_event_type */
	__u8 verdict;      /* zs_verdict */
	__u8 reason;       /* zs_reason */
	__u8 direction;    /* zs_direction */
	__u32 ifindex;
	__u32 subject;
	__u32 peer;
	__u32 rule_id;
	__u32 suppressed;  /* deny events dropped by the rate limit before this */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 tcp_flags;
	__u8 hook;         /* zs_hook */
	__u32 pad;
	struct zs_tuple tuple;
};

enum zs_hook {
	ZS_HOOK_XDP = 0,
	ZS_HOOK_TC_INGRESS = 1,
	ZS_HOOK_TC_EGRESS = 2,
};

/* deny_ratelimit's key, and a source's in zs_deny_sources: the address as
 * a tuple holds it (IPv4 in addr[0], the rest 0) and its family, without
 * which an IPv4 source's form is an IPv6 address too (cb00:7143:: is
 * 203.0.113.67's), whose packets spent the IPv4 source's tokens (attack
 * review of session 26). Family 0: the spoof limiter's key per interface
 * (source_check.h). */
struct zs_deny_source_key {
	__u32 addr[4];
	__u32 family;
};

/* deny_ratelimit (LRU): zs_deny_source_key -> token bucket */
struct zs_ratelimit {
	__u64 last_ns;	  /* its last refill (coarse ns) */
	__u32 tokens;
	__u32 suppressed; /* denies held back since the source's last report and not counted in its
			   * slot of zs_deny_sources (it had none; or handed over by a source that
			   * took its slot: bpf/lib/deny_sources.h) */
};

/* deny_budget (per-CPU array of one): every deny event of this CPU, from
 * any source, draws on one token bucket (zs_config.deny_events_per_cpu);
 * beside it, in the same cache line, this CPU's coarse clock per tick, so
 * that a flood's packet dropped before the parse reads no clock
 * (zs_deny_budget_now), and the counts of those drops, so that it writes
 * no other counter's line (a held deny is counted in its source's slot or
 * bucket too): user space adds them to the counters they are of
 * (Datapath::counter): denied ingress and untracked-deny (packets and
 * bytes), events-suppressed (each) and events-over-budget. */
struct zs_deny_budget {
	__u64 last_ns;
	__u64 tokens;
	__u64 tick_jiffies; /* the tick tick_ns was read in */
	__u64 tick_ns;	    /* CLOCK_MONOTONIC_COARSE then; 0: not read yet */
	__u64 early_drops;  /* the untracked deny's drops before the parse (untracked_deny.h) */
	__u64 early_bytes;
	__u64 early_over_budget; /* of those, with this budget spent */
	__u64 _pad;
};

ZS_STATIC_ASSERT(sizeof(struct zs_event) == 80, "zs_event ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_deny_budget) == 64, "zs_deny_budget ABI");

#endif
