/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZS_BPF_POLICY_LOOKUP_H
#define ZS_BPF_POLICY_LOOKUP_H

#include "deny_fastpath.h"
#include "maps.h"
#include <zeroseg/endpoint.h>
#include <zeroseg/identity.h>

/* The decision for a new flow, and what conntrack keeps of it. */
struct zs_judgement {
	__u64 expires_tai; /* when the allowing (or enforced deny) rule ends; 0 = never */
	__u32 rule_id;     /* deciding rule; 0 = the endpoint's default */
	__u8 verdict;      /* zs_verdict */
	__u8 reason;       /* zs_reason */
};

/* zs_policy_query's peer when no key naming a peer can match the flow:
 * not looked up (yet; lazy_peer.h). No identity is 0 (ZS_ID_ANY). */
#define ZS_PEER_UNRESOLVED ZS_ID_ANY

/* One flow's question to the policy map. */
struct zs_policy_query {
	__u32 subject;
	__u32 peer;
	__u16 port;
	__u8 direction;
	__u8 proto;
	__u8 mode;
	__u8 slot;
};


struct zs_policy_scan {
	__u64 until_tai; /* the earliest end of a live entry read; 0 = none (verdict_memo.h) */
	__u64 allow_expires;
	__u64 deny_expires;
	__u32 allow_rule;
	__u32 audit_rule;
	__u32 deny_rule;
};

/* Reads CLOCK_TAI once per entry that has an end (not once per scan: the
 * verifier's 512 bytes of stack for the deepest call chain, which holds
 * the scan, have no 8 bytes to spare for the reading); keeps the earliest
 * end of a live entry: the scan's answer holds until then. */
static __always_inline int zs_live(__u64 expires, struct zs_policy_scan *s)
{
	if (!expires)
		return 1;
	if (bpf_ktime_get_tai_ns() >= expires)
		return 0; /* ended: it stays so */
	if (!s->until_tai || expires < s->until_tai)
		s->until_tai = expires;
	return 1;
}

/* Folds one map entry into the scan; returns 1 when an enforced deny ends
 * it. A global (separately verified) function: inlined into the probe loop,
 * its branches multiply the verifier's states past the 1M budget. */
__attribute__((noinline)) int zs_policy_probe(struct zs_policy_key *key, __u32 slot,
					      struct zs_policy_scan *s)
{
	struct zs_policy_value *val;
	struct zs_policy_entry *e;

	if (!key || !s || !zs_policy_may_hold(key))
		return 0;
	val = bpf_map_lookup_elem(&zs_policy, key);
	if (!val)
		return 0;
	e = &val->slot[slot & 1];
	if (e->deny_rule && zs_live(e->deny_expires, s)) {
		if (!e->deny_audit) {
			s->deny_rule = e->deny_rule;
			s->deny_expires = e->deny_expires;
			return 1;
		}
		if (!s->audit_rule)
			s->audit_rule = e->deny_rule;
	}
	if (e->allow_rule && zs_live(e->allow_expires, s)) {
		/* prefer the allow that lasts longest */
		if (!s->allow_rule || !e->allow_expires ||
		    (s->allow_expires && e->allow_expires > s->allow_expires)) {
			s->allow_rule = e->allow_rule;
			s->allow_expires = e->allow_expires;
		}
	}
	return 0;
}

static __always_inline __u16 zs_port_mask(__u32 plen)
{
	return plen ? (__u16)(0xffff << (16 - plen)) : 0;
}

/* Probes the (bounded) set of keys that can match q: see policy.h in
 * include/. Returns until when the answer holds, by the clock (CLOCK_TAI;
 * 0: while the generation does): the earliest end of a live entry it read. */
static __always_inline __u64 zs_policy_judge(const struct zs_lookup_plan *plan,
					     const struct zs_policy_query *q,
					     struct zs_judgement *j)
{
	struct zs_policy_scan s = {};
	struct zs_policy_key key = {
		.subject = q->subject,
		.direction = q->direction,
	};
	__u32 p, i, n = plan->n_port_plens;

	if (q->mode == ZS_MODE_OFF) {
		j->verdict = ZS_VERDICT_ALLOWED;
		return 0;
	}

#pragma clang loop unroll(disable)
	for (p = 0; p < 2; p++) {
		if (p == 1 && !(plan->flags & ZS_PLAN_ANY_PEER))
			break;
		if (p == 0 && q->peer == ZS_PEER_UNRESOLVED)
			continue; /* no key naming a peer can match (lazy_peer.h) */
		key.peer = p ? ZS_ID_ANY : q->peer;
#pragma clang loop unroll(disable)
		for (i = 0; i < ZS_MAX_PORT_PLENS; i++) {
			__u8 plen;

			if (i >= n)
				break;
			plen = plan->port_plens[i];
			key.proto = q->proto;
			key.port_plen = plen;
			key.port = q->port & zs_port_mask(plen);
			if (zs_policy_probe(&key, q->slot, &s))
				goto deny;
		}
		if (!(plan->flags & ZS_PLAN_ANY_PROTO))
			continue;
		key.proto = ZS_PROTO_ANY;
		key.port_plen = 0;
		key.port = 0;
		if (zs_policy_probe(&key, q->slot, &s))
			goto deny;
	}

	if (s.audit_rule) {
		j->verdict = ZS_VERDICT_AUDIT;
		j->reason = ZS_REASON_POLICY_DENY;
		j->rule_id = s.audit_rule;
		return s.until_tai;
	}
	if (s.allow_rule) {
		j->verdict = ZS_VERDICT_ALLOWED;
		j->rule_id = s.allow_rule;
		j->expires_tai = s.allow_expires;
		return s.until_tai;
	}
	j->reason = ZS_REASON_DEFAULT_DENY;
	j->verdict = q->mode == ZS_MODE_ENFORCE ? ZS_VERDICT_DENIED : ZS_VERDICT_AUDIT;
	return s.until_tai;
deny:
	/* an auditing direction reports even explicit denies */
	j->verdict = q->mode == ZS_MODE_ENFORCE ? ZS_VERDICT_DENIED : ZS_VERDICT_AUDIT;
	j->reason = ZS_REASON_POLICY_DENY;
	j->rule_id = s.deny_rule;
	j->expires_tai = s.deny_expires; /* until when the deny holds (deny_cache.h) */
	return s.until_tai;
}

#endif
