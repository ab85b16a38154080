/* SPDX-License-Identifier: Apache-2.0 */
/* The verdict for one packet, shared by every hook:
 *   parse -> untracked deny, source check -> conntrack (a current flow
 *   passes here) -> endpoint ->
 *   (new or stale) identities -> policy -> conntrack insert -> event.
 * Returns ZS_PASS or ZS_DROP; the entry program maps it to its hook.
 *
 * The slow paths (new flow, re-judging a stale flow, related ICMP errors)
 * are global functions: the verifier checks each once, on its own, instead
 * of once per state the parser can leave behind, and each has its own stack
 * frame. Their arguments hold scalars only, so they look up the maps they
 * need again; that costs a few ns on a new flow, nothing per packet. */
#ifndef ZS_BPF_PIPELINE_H
#define ZS_BPF_PIPELINE_H

#include "conn_tracking.h"
#include "ct_charge.h"
#include "ctx.h"
#include "deny_cache.h"
#include "endpoint_memo.h"
#include "events.h"
#include "flow_ctx.h"
#include "ipcache_lookup.h"
#include "judge_flow.h"
#include "lazy_peer.h"
#include "maps.h"
#include "parse.h"
#include "policy_lookup.h"
#include "source_check.h"
#include "untracked_deny.h"


/* Slow-path results: a verdict and a reason in one return value. */
#define ZS_RESULT(verdict, reason) ((verdict) | (reason) << 8)
#define ZS_RESULT_VERDICT(r) ((r) & 0xff)
#define ZS_RESULT_REASON(r) (((r) >> 8) & 0xff)

/* First packet of a flow: judge it, track it if it passes, report it. */
ZS_NOINLINE int zs_new_flow(struct zs_flow_ctx *fc, struct zs_packet *p)
{
	const struct zs_config *cfg = zs_get_config();
	struct zs_judgement j = {};
	struct zs_event_info info = {};
	struct zs_scratch *scratch;
	__u8 uncharged; /* ZS_CT_UNCHARGED: in no share of this endpoint's */

	if (!fc || !p || !cfg)
		return ZS_RESULT(ZS_VERDICT_DENIED, ZS_REASON_NONE);
	info.direction = fc->direction;
	/* a flow denied before under this generation: no judgement again */
	if (!zs_deny_cache_hit(fc->ifindex, fc->hook, fc->generation, p, &j, &info)) {
		zs_judge_flow(cfg, fc, &p->tuple, p->policy_port, &j, &info,
			      ZS_JUDGE_LAZY_PEER | ZS_JUDGE_MEMO);
		if (j.verdict == ZS_VERDICT_DENIED && zs_deny_cache_seen_before(fc->ifindex, p)) {
			zs_peer_resolve(cfg, fc, &p->tuple, info.direction, &info.peer);
			zs_deny_cache_store(fc->ifindex, fc->hook, fc->generation, p, &j, &info);
		}
	}
	if (j.verdict != ZS_VERDICT_DENIED) /* tracked and reported below */
		zs_peer_resolve(cfg, fc, &p->tuple, info.direction, &info.peer);
	/* asked of flows policy lets through only: no probe per denied packet */
	uncharged = j.verdict == ZS_VERDICT_DENIED ? 0 : zs_ct_inner_workload(fc, p) & ZS_CT_UNCHARGED;
	/* an endpoint at its share of conntrack for this direction opens no
	 * flow in it (zs_ct_share_take: the place taken, stored below),
	 * whatever the policy and mode say */
	scratch = zs_get_scratch();
	if (j.verdict != ZS_VERDICT_DENIED && zs_opens_flow(p) && !uncharged && scratch &&
	    !zs_ct_share_take(cfg, fc->ifindex, p->tuple.family, fc->direction)) {
		j.verdict = ZS_VERDICT_DENIED;
		j.reason = ZS_REASON_CT_ENDPOINT_LIMIT;
		j.rule_id = 0;
	}
	if (j.verdict == ZS_VERDICT_DENIED) {
		zs_ct_forget_uplink(fc, p);
		info.type = ZS_EVENT_DENY;
		if (zs_deny_event_allowed(cfg, &p->tuple, fc->now, &info.suppressed)) {
			zs_peer_resolve(cfg, fc, &p->tuple, info.direction, &info.peer);
			zs_emit(fc->ifindex, fc->hook, p, &j, &info);
		}
		return ZS_RESULT(j.verdict, j.reason);
	}

	/* ICMP but a query's request (an error, a reply, any other
	 * message) is judged, but never opens a flow */
	if (scratch && zs_opens_flow(p)) {
		struct zs_ct_entry *ct = &scratch->ct;

		zs_ct_key_of(&scratch->key, fc->ifindex, &p->tuple, 0);
		__builtin_memset(ct, 0, sizeof(*ct));
		ct->created_ns = fc->now;
		ct->last_seen_ns = fc->now;
		ct->last_seen_jiffies = fc->jiffies;
		/* the generation whose slot judged the flow, not
		 * cfg->generation: a flip since fc was filled must leave
		 * the entry stale, to be judged again by the new slot on
		 * its next packet. Stamped with the new generation, a
		 * flow judged by the old policy would pass as judged by
		 * the new one: a flow opened while a change revoking it
		 * was committed would survive the revocation. */
		ct->generation = fc->generation;
		ct->expires_tai = j.expires_tai;
		ct->packets[0] = 1;
		ct->bytes[0] = fc->len;
		ct->rule_id = j.rule_id;
		ct->subject = info.subject;
		ct->peer = info.peer;
		ct->direction = fc->direction;
		ct->flags = (j.verdict == ZS_VERDICT_AUDIT ? ZS_CT_AUDIT : 0) | uncharged;
		ct->tcp_flags[0] = p->tcp_flags;
		ct->policy_port = p->policy_port;
		zs_ct_store(&scratch->key, ct);
	}
	info.type = ZS_EVENT_FLOW_NEW;
	/* judged again on its next packet, such a packet would report every
	 * one: reported at the rate of denies */
	if (zs_opens_flow(p) || zs_deny_event_allowed(cfg, &p->tuple, fc->now, &info.suppressed))
		zs_emit(fc->ifindex, fc->hook, p, &j, &info);
	return ZS_RESULT(j.verdict, j.reason);
}

/* A tracked flow whose verdict is stale (the policy changed since, or the
 * allowing rule expired): judged again as its first packet was. Returns
 * the verdict for this packet; a denied flow is removed. */
ZS_NOINLINE int zs_rejudge(struct zs_flow_ctx *fc, struct zs_packet *p, int found)
{
	const struct zs_config *cfg = zs_get_config();
	struct zs_scratch *scratch = zs_get_scratch();
	struct zs_judgement j = {};
	struct zs_event_info info = { .type = ZS_EVENT_REVOKED };
	struct zs_ct_entry *ct;
	struct zs_ct_key *key;
	int charged;

	if (!fc || !p || !cfg || !scratch)
		return ZS_RESULT(ZS_VERDICT_DENIED, ZS_REASON_NONE);
	key = &scratch->key;
	zs_ct_key_of(key, fc->ifindex, &p->tuple, found == ZS_CT_REPLY);
	ct = zs_ct_find_key(key);
	if (!ct)
		return ZS_RESULT(ZS_VERDICT_DENIED, ZS_REASON_NONE);

	zs_count(ZS_CTR_CT_REJUDGED, 0);
	info.direction = ct->direction;
	zs_judge_flow(cfg, fc, &key->tuple, ct->policy_port, &j, &info, ZS_JUDGE_MEMO);
	if (j.verdict == ZS_VERDICT_DENIED) {
		zs_count(ZS_CTR_CT_REVOKED, 0);
		zs_emit(fc->ifindex, fc->hook, p, &j, &info);
		charged = zs_ct_charged(ct);
		if (zs_ct_remove(key) && charged)
			zs_ct_share_give_back(fc->ifindex, key->tuple.family, info.direction);
		return ZS_RESULT(j.verdict, j.reason);
	}
	ct->generation = fc->generation; /* as in zs_new_flow: what judged */
	ct->expires_tai = j.expires_tai;
	ct->rule_id = j.rule_id;
	ct->flags = (ct->flags & ~ZS_CT_AUDIT) |
		    (j.verdict == ZS_VERDICT_AUDIT ? ZS_CT_AUDIT : 0);
	return ZS_RESULT(j.verdict, ZS_REASON_NONE);
}

/* A `policy trace` packet: judged as a new flow (the policy asked, never
 * the verdict memo), with no side effect but its judgement in zs_trace. */
ZS_NOINLINE int zs_trace_flow(struct zs_flow_ctx *fc, struct zs_packet *p, __u32 seq)
{
	const struct zs_config *cfg = zs_get_config();
	struct zs_judgement j = {};
	struct zs_event_info info = {};
	struct zs_trace_result *t;
	__u32 zero = 0;

	if (!fc || !p || !cfg)
		return ZS_RESULT(ZS_VERDICT_DENIED, ZS_REASON_NONE);
	info.direction = fc->direction;
	zs_judge_flow(cfg, fc, &p->tuple, p->policy_port, &j, &info, 0); /* the policy itself */
	t = bpf_map_lookup_elem(&zs_trace, &zero);
	if (t) {
		t->seq = seq;
		t->subject = info.subject;
		t->peer = info.peer;
		t->rule_id = j.rule_id;
		t->verdict = j.verdict;
		t->reason = j.reason;
		t->direction = fc->direction;
		t->mode = zs_mode_of(fc, fc->direction & 1);
	}
	return ZS_RESULT(j.verdict, j.reason);
}

/* An ICMP or ICMPv6 error (p->icmp_error) passes without policy, as
 * related to a flow, only when all three hold:
 *  1. it quotes a packet of a flow tracked on this interface whose verdict
 *     is current: given under this generation, its rule not expired; or,
 *     stale, judged again now (zs_rejudge) and still allowed. A flow the
 *     policy no longer allows is revoked here, as its own next packet
 *     would revoke it;
 *  2. it goes back to the quoted packet's sender: the outer destination is
 *     the quoted source (the quoted packet is one the error's receiver
 *     sent). The outer source is not checked: an error comes from the far
 *     end (the quoted destination) or from any router on the path, whose
 *     address can be anything;
 *  3. it is no bigger than an error may be: 576 bytes for ICMP (RFC 1812
 *     4.3.2.3), 1280 for ICMPv6 (RFC 4443 2.4(c)), IP header on
 *     (zs_icmp_error_fits).
 * Anything else is judged by policy as ordinary ICMP (and, allowed or not,
 * opens no flow). Without 2 and 3, an error quoting any live flow would
 * carry what it liked, to whom it liked, past the policy. */
ZS_NOINLINE int zs_related(struct zs_flow_ctx *fc, struct zs_packet *p)
{
	const struct zs_config *cfg = zs_get_config();
	struct zs_scratch *scratch = zs_get_scratch();
	struct zs_ct_entry *ct = NULL;
	const struct zs_tuple *t;
	struct zs_clock clk;
	int found;

	if (!fc || !p || !cfg || !scratch || !p->icmp_error || !scratch->quote_whole ||
	    scratch->quoted.ct_role == ZS_CT_ROLE_UNTRACKED)
		return 0;
	t = &scratch->quoted.tuple;
	if (!zs_icmp_error_fits(p->tuple.family, scratch->error_len))
		return 0;
	if (p->tuple.daddr[0] != t->saddr[0] || p->tuple.daddr[1] != t->saddr[1] ||
	    p->tuple.daddr[2] != t->saddr[2] || p->tuple.daddr[3] != t->saddr[3])
		return 0;
	clk.jiffies = fc->jiffies;
	clk.ns = fc->now;
	found = zs_ct_lookup_in(cfg, fc->ifindex, &scratch->quoted, &clk, &ct,
				(union zs_ct_any_key *)&scratch->key);
	if (found == ZS_CT_NEW || !ct)
		return 0;
	if (zs_ct_current(ct, fc->generation))
		return 1;
	/* stale: judged as a packet of the flow would be; a revocation's
	 * event names the quoted packet */
	return ZS_RESULT_VERDICT(zs_rejudge(fc, &scratch->quoted, found)) !=
	       ZS_VERDICT_DENIED;
}

/* Neighbour discovery that passes without policy in this direction
 * (zs_nd_class). A global function: the verifier checks its branches
 * once, not once per path out of the parser (inline, they took the
 * programs from ~225k verified instructions to ~560k). */
ZS_NOINLINE int zs_nd_passes(struct zs_flow_ctx *fc, struct zs_packet *p)
{
	__u8 nd;

	if (!fc || !p)
		return 0;
	nd = zs_nd_class(p);
	return nd == ZS_ND_LINK || (nd == ZS_ND_ARRIVING && fc->direction == ZS_DIR_INGRESS);
}

/* Ports of a later fragment come from its first fragment. A subprogram
 * so its key does not sit in the entry's stack frame. */
static ZS_NOINLINE int zs_fragment_ports(struct zs_packet *p)
{
	struct zs_frag_key key = {
		.id = p->frag_id,
		.proto = p->tuple.proto,
		.family = p->tuple.family,
	};
	struct zs_frag_value *val;

	__builtin_memcpy(key.saddr, p->tuple.saddr, 16);
	__builtin_memcpy(key.daddr, p->tuple.daddr, 16);
	if (p->frag_first) {
		struct zs_frag_value v = {
			.sport = p->tuple.sport,
			.dport = p->tuple.dport,
		};

		bpf_map_update_elem(&zs_fragments, &key, &v, BPF_ANY);
		return 0;
	}
	val = bpf_map_lookup_elem(&zs_fragments, &key);
	if (!val)
		return -1;
	if (zs_is_icmp(p->tuple.proto))
		return -1; /* fragmented ICMP: type and code are in the first only */
	p->tuple.sport = val->sport;
	p->tuple.dport = val->dport;
	p->has_ports = 1;
	p->policy_port = bpf_ntohs(p->tuple.dport);
	return 0;
}

static __always_inline int zs_finish(const struct zs_ctx *ctx, __u8 direction,
				     __u8 verdict, __u8 reason)
{
	zs_count(ZS_CTR_VERDICT(verdict & 3, direction & 1), ctx->len);
	if (reason)
		zs_count(ZS_CTR_REASON(reason), ctx->len);
	return verdict == ZS_VERDICT_DENIED ? ZS_DROP : ZS_PASS;
}

/* A packet that cannot be judged (malformed, orphan fragment): dropped
 * where the direction enforces, reported where it audits. */
static __always_inline int zs_unjudgeable(const struct zs_ctx *ctx,
					  const struct zs_flow_ctx *fc, __u8 reason)
{
	__u8 mode = zs_mode_of(fc, fc->direction & 1);
	__u8 verdict = ZS_VERDICT_ALLOWED;

	if (mode == ZS_MODE_ENFORCE)
		verdict = ZS_VERDICT_DENIED;
	else if (mode == ZS_MODE_AUDIT)
		verdict = ZS_VERDICT_AUDIT;
	return zs_finish(ctx, fc->direction, verdict, reason);
}

/* Fills fc from ctx's endpoint, read from where `from` says
 * (endpoint_memo.h); 0 when the interface has none (unmanaged). */
static __always_inline int zs_endpoint_flow_ctx(const struct zs_config *cfg,
						const struct zs_ctx *ctx,
						struct zs_flow_ctx *fc,
						enum zs_endpoint_from from)
{
	struct zs_endpoint ep;

	if (!cfg)
		return 0;
	/* one read: the slot and the generation stamped on conntrack
	 * entries must be the same one's (zs_new_flow) */
	fc->generation = *(volatile const __u64 *)&cfg->generation;
	fc->slot = fc->generation & 1;
	if (!zs_endpoint_read(ctx->ifindex, fc->generation, from, &ep))
		return 0;
	fc->ifindex = ctx->ifindex;
	fc->len = ctx->len;
	fc->hook = ctx->hook;
	fc->subject = ep.identity;
	fc->kind = ep.kind;
	fc->direction = zs_hook_direction(ctx->hook, ep.kind);
	fc->mode[0] = ep.mode[0];
	fc->mode[1] = ep.mode[1];
	return 1;
}

/* The established path: a packet of a flow tracked on this interface and
 * judged under the current generation passes with no endpoint lookup. A
 * change of the endpoint (identity, mode, kind, removal) moves the
 * generation on, so the flow is then re-judged on the slow path, which
 * looks the endpoint up. The packet's direction is the flow's, or its
 * opposite for a reply: on one interface a flow's packets in one direction
 * always cross the same hook. */
static __always_inline int zs_established(const struct zs_config *cfg,
					  const struct zs_ctx *ctx,
					  const struct zs_packet *p,
					  struct zs_ct_entry *ct, int found,
					  struct zs_clock *clk)
{
	__u8 direction = ct->direction ^ (found == ZS_CT_REPLY);

	if (!zs_ct_current(ct, cfg->generation))
		return -1;
	zs_ct_account(ct, found, p, ctx->len, clk);
	return zs_finish(ctx, direction,
			 ct->flags & ZS_CT_AUDIT ? ZS_VERDICT_AUDIT : ZS_VERDICT_ALLOWED, 0);
}

/* Everything but the established path: the endpoint, then what the packet
 * is (not IP, malformed, neighbour discovery, a stale or new flow). */
static __always_inline int zs_judge_packet(const struct zs_config *cfg,
					   struct zs_ctx *ctx, struct zs_packet *p,
					   int rc, int found, struct zs_ct_entry *ct,
					   struct zs_clock *clk, __u32 from_ifindex)
{
	struct zs_flow_ctx fc = { .from_ifindex = from_ifindex };

	if (!zs_endpoint_flow_ctx(cfg, ctx, &fc, ZS_ENDPOINT_FROM_MEMO)) {
		zs_count(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0), ctx->len);
		return ZS_PASS;
	}
	fc.now = zs_clock_ns(clk);
	fc.jiffies = clk->jiffies;
	if (rc == ZS_PARSE_NON_IP) {
		zs_count(ZS_CTR_NON_IP, ctx->len);
		return ZS_PASS;
	}
	if (rc)
		return zs_unjudgeable(ctx, &fc, rc);
	/* ND that stays on its link; other ND is judged below (found is
	 * ZS_CT_NEW: zs_datapath looks no untracked ICMP up) */
	if (p->neighbour_disc && zs_nd_passes(&fc, p))
		return zs_finish(ctx, fc.direction, ZS_VERDICT_ALLOWED, 0);
	if (found != ZS_CT_NEW && ct) {
		/* stale: the policy changed since, or the allowing rule expired */
		rc = zs_rejudge(&fc, p, found);
		if (ZS_RESULT_VERDICT(rc) == ZS_VERDICT_DENIED)
			return zs_finish(ctx, fc.direction, ZS_VERDICT_DENIED,
					 ZS_RESULT_REASON(rc));
		zs_ct_account(ct, found, p, ctx->len, clk);
		return zs_finish(ctx, fc.direction,
				 ct->flags & ZS_CT_AUDIT ? ZS_VERDICT_AUDIT : ZS_VERDICT_ALLOWED, 0);
	}
	if (p->icmp_error && zs_related(&fc, p))
		return zs_finish(ctx, fc.direction, ZS_VERDICT_ALLOWED, 0);
	rc = zs_new_flow(&fc, p);
	return zs_finish(ctx, fc.direction, ZS_RESULT_VERDICT(rc), ZS_RESULT_REASON(rc));
}

/* from_ifindex: zs_flow_ctx's, from the entry program; untracked: what
 * its early look left (zs_untracked_early), never ZS_UNTRACKED_DROPPED:
 * the entry program returns for those first */
static __always_inline int zs_datapath(struct zs_ctx *ctx, __u32 from_ifindex, int untracked)
{
	const struct zs_config *cfg = zs_get_config();
	struct zs_packet p = {};
	struct zs_ct_entry *ct = NULL;
	int rc, found = ZS_CT_NEW;
	struct zs_clock clk;

	if (!cfg) {
		zs_count(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0), ctx->len);
		return ZS_PASS;
	}
	rc = zs_parse(ctx, &p);
	/* before conntrack, so that neither an untracked deny's source nor a
	 * spoofed packet can ride an established flow; and whatever the
	 * parse found after the addresses (zs_parse) */
	if (p.tuple.family && ((untracked == ZS_UNTRACKED_LATER && zs_untracked_denied(cfg, ctx, &p)) ||
				zs_source_spoofed(cfg, ctx, &p)))
		return ZS_DROP;
	if (rc == ZS_PARSE_IP && (p.frag_first || p.frag_later) && zs_fragment_ports(&p))
		rc = ZS_REASON_FRAG_NO_FIRST;
	clk.jiffies = bpf_jiffies64();
	clk.ns = 0;
	/* ICMP but a query's request or reply is no packet of a flow: ND is
	 * judged by zs_nd_class, an error by zs_related (or by policy), the
	 * rest by policy, every packet. Looked up by its own tuple (ports 0),
	 * an error would pass as established with any ICMP flow of the same
	 * two addresses: no check of its quote, its destination or its size. */
	if (rc == ZS_PARSE_IP && p.ct_role != ZS_CT_ROLE_UNTRACKED) {
		found = zs_ct_lookup(cfg, ctx->ifindex, &p, &clk, &ct);
		if (found != ZS_CT_NEW && ct) {
			int verdict = zs_established(cfg, ctx, &p, ct, found, &clk);

			if (verdict >= 0)
				return verdict;
		}
	}
	return zs_judge_packet(cfg, ctx, &p, rc, found, ct, &clk, from_ifindex);
}

/* zs_tc_trace's body: endpoint, parse, judge; nothing else. */
static __always_inline int zs_trace_datapath(struct zs_ctx *ctx, __u32 seq)
{
	const struct zs_config *cfg = zs_get_config();
	struct zs_packet p = {};
	struct zs_flow_ctx fc = {};
	int rc;

	if (!zs_endpoint_flow_ctx(cfg, ctx, &fc, ZS_ENDPOINT_FROM_MAP))
		return ZS_PASS;
	if (zs_parse(ctx, &p))
		return ZS_DROP;
	rc = zs_trace_flow(&fc, &p, seq);
	return ZS_RESULT_VERDICT(rc) == ZS_VERDICT_DENIED ? ZS_DROP : ZS_PASS;
}

#endif
