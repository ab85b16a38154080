/* SPDX-License-Identifier: Apache-2.0 */
/* Untracked deny on host uplinks, the first check of an arriving packet
 * (include/zeroseg/untracked.h has the map and the semantics): a packet
 * arriving on an uplink from a source an untracked deny names is dropped
 * before conntrack, the source check and the endpoint's policy, and it
 * costs the uplink's endpoint (remembered per CPU), a trie lookup and, on
 * a match, counters, the events' budget and, within it, the source's slot
 * of zs_deny_sources or its bucket. A node without untracked rules
 * pays a bit test of the plan (ZS_PLAN_UNTRACKED) per packet.
 *
 * Only the source address is read, so whatever follows it in the packet
 * (a later fragment, IPv6 extension headers, a malformed header) cannot
 * take the packet past; VLAN tags are parsed away before. A match is
 * counted under untracked-deny and reported as a deny within the deny
 * events' budget; where the uplink's ingress audits, or the rule's policy
 * does, it is counted under untracked-deny only and goes on to be judged
 * as usual (the tracked copy of the rule reports a new flow as audit);
 * where it is off, nothing is done.
 *
 * Two looks: zs_untracked_early, before the parse, takes a flood's
 * packets (an untagged frame, an enforced deny, its event held back: the
 * CPU's budget spent or the source without a token) for a lookup or two
 * and a few counters; zs_untracked_denied, after the parse, everything it
 * leaves (other shapes, audits, a deny to report with its ports).
 * `policy trace` runs neither: it shows the tracked copy of the rule. */
#ifndef ZS_BPF_UNTRACKED_DENY_H
#define ZS_BPF_UNTRACKED_DENY_H

#include "ctx.h"
#include "endpoint_memo.h"
#include "events.h"
#include "ipcache_lookup.h"
#include "maps.h"
#include "parse.h"

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

/* A global function (its own frame, verified once): 1 when p, arrived on
 * ifindex, is to be dropped. Read only when the slot has entries. */
ZS_NOINLINE int zs_untracked_match(struct zs_packet *p, __u32 ifindex, __u32 len, __u32 hook,
				   __u64 generation)
{
	struct zs_untracked_key key = {
		.prefixlen = ZS_UNTRACKED_KEY_BITS + 128,
		.ifindex = ifindex,
		.slot = generation & 1,
	};
	struct zs_event_info info = { .type = ZS_EVENT_DENY, .direction = ZS_DIR_INGRESS };
	struct zs_judgement j = { .reason = ZS_REASON_UNTRACKED_DENY };
	const struct zs_untracked_value *v;
	const struct zs_config *cfg;
	struct zs_endpoint ep;
	__u32 zero = 0, slot = generation & 1;
	__u8 mode;
	int drop;

	if (!p)
		return 0;
	key.family = p->tuple.family;
	__builtin_memcpy(key.addr, p->tuple.saddr, 16);
	v = bpf_map_lookup_elem(&zs_untracked, &key);
	if (!v || v->action == ZS_UNTRACKED_PASS)
		return 0;
	/* the uplink's ingress mode (entries are written for uplinks only) */
	if (!zs_endpoint_memo_get(ifindex, generation, &ep) || ep.kind != ZS_ATTACH_HOST)
		return 0;
	mode = ep.mode[ZS_DIR_INGRESS];
	if (mode == ZS_MODE_OFF)
		return 0;
	drop = v->action == ZS_UNTRACKED_DENY && mode == ZS_MODE_ENFORCE;
	zs_count(ZS_CTR_REASON(ZS_REASON_UNTRACKED_DENY), len);
	/* an audited packet is only counted here: it goes on to be judged,
	 * counted and reported as its policy says (a deny event for a packet
	 * that passed would read as a drop, to the flow log and detection) */
	if (!drop)
		return 0;
	zs_count(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, ZS_DIR_INGRESS), len);
	j.verdict = ZS_VERDICT_DENIED;
	j.rule_id = v->rule_id;
	cfg = bpf_map_lookup_elem(&zs_config, &zero);
	if (cfg && zs_deny_event_allowed(cfg, &p->tuple, bpf_ktime_get_coarse_ns(), &info.suppressed)) {
		info.subject = ep.identity;
		info.peer = zs_ipcache_identity(&cfg->plan[slot], slot, p->tuple.family,
						p->tuple.saddr);
		zs_emit(ifindex, hook, p, &j, &info);
	}
	return 1;
}

/* 1 when p (its addresses parsed) arrived on an uplink from a source an
 * untracked deny drops: the look after the parse, for what the early look
 * left (ZS_UNTRACKED_LATER). */
static __always_inline int zs_untracked_denied(const struct zs_config *cfg,
					       const struct zs_ctx *ctx, struct zs_packet *p)
{
	/* one read: the trie's slot and the endpoint's are the same one's */
	__u64 generation = *(volatile const __u64 *)&cfg->generation;

	if (ctx->hook == ZS_HOOK_TC_EGRESS || !(cfg->plan[generation & 1].flags & ZS_PLAN_UNTRACKED))
		return 0;
	return zs_untracked_match(p, ctx->ifindex, ctx->len, ctx->hook, generation);
}

/* What the early look (zs_untracked_early) leaves to the pipeline. */
enum zs_untracked_early {
	ZS_UNTRACKED_CLEAR = 0,   /* no untracked deny names the source, or no uplink: nothing after */
	ZS_UNTRACKED_LATER = 1,   /* look after the parse (zs_untracked_denied) */
	ZS_UNTRACKED_DROPPED = 2, /* dropped, counted, its event held back */
};

/* A flood's packets, before the parse: an untagged IPv4 or IPv6 frame's
 * source, read from the bytes zs_parse reads it from (the fixed header,
 * whole), looked up; a source denied, on an enforcing uplink, whose deny
 * event would be held back (this CPU's budget spent, or the source
 * without a token: its bucket empty, or its slot of zs_deny_sources
 * holding it till its next token) is dropped here and counted as the look
 * after the parse would count it. That is nearly every packet of a flood,
 * from many sources or from one, and costs the uplink's endpoint
 * (remembered per CPU), a trie lookup, the budget (no clock read: the
 * budget keeps one per tick), within the budget the source's slot (its
 * bucket only when no slot holds it) and a few counters. Anything else,
 * the look after the parse decides: a frame of another shape (VLAN tags,
 * truncated), an audit, an event to send (it names ports). On an
 * interface that is not an uplink it stops at the endpoint: no trie
 * lookup, and none after the parse (entries are written for uplinks
 * only).
 *
 * The frame's first line is read before the endpoint, which does not
 * depend on it: a frame another CPU just wrote is a cache miss on a veth
 * (perf: most of the early look's samples sat on that read), and the CPU
 * can read the endpoint while the line comes (an A/B on the veth could
 * not tell the difference: bench/RESULTS.md, session 26). */
static __always_inline int zs_untracked_early(void *data, void *data_end, __u32 ifindex, __u32 len)
{
	struct zs_untracked_key key = { .ifindex = ifindex };
	struct zs_deny_source_key source;
	struct zs_deny_budget *budget, *line;
	const struct zs_untracked_value *v;
	struct ethhdr *eth = data;
	const struct zs_config *cfg;
	struct zs_ratelimit *rl;
	struct zs_endpoint ep;
	__u32 *held;
	__u32 zero = 0, slot;
	__u64 generation, now;
	int fate, enforcing;
	__u16 proto;

	cfg = bpf_map_lookup_elem(&zs_config, &zero);
	if (!cfg)
		return ZS_UNTRACKED_CLEAR;
	generation = *(volatile const __u64 *)&cfg->generation;
	slot = generation & 1;
	if (!(cfg->plan[slot].flags & ZS_PLAN_UNTRACKED))
		return ZS_UNTRACKED_CLEAR;
	if ((void *)(eth + 1) > data_end)
		return ZS_UNTRACKED_LATER;
	/* the frame's first line asked for before the endpoint (above); the
	 * empty asm keeps the compiler from moving the load down to its use */
	proto = eth->h_proto;
	asm volatile("" : "+r"(proto));
	/* the uplink's ingress mode (entries are written for uplinks only) */
	if (!zs_endpoint_memo_get(ifindex, generation, &ep) || ep.kind != ZS_ATTACH_HOST)
		return ZS_UNTRACKED_CLEAR;
	enforcing = ep.mode[ZS_DIR_INGRESS] == ZS_MODE_ENFORCE;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return ZS_UNTRACKED_LATER;
		key.family = ZS_FAMILY_IPV4;
		key.prefixlen = ZS_UNTRACKED_KEY_BITS + 32;
		key.addr[0] = ip->saddr;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return ZS_UNTRACKED_LATER;
		key.family = ZS_FAMILY_IPV6;
		key.prefixlen = ZS_UNTRACKED_KEY_BITS + 128;
		__builtin_memcpy(key.addr, &ip6->saddr, 16);
	} else {
		return ZS_UNTRACKED_LATER; /* (not IP: no source, nothing after) */
	}
	key.slot = slot;
	v = bpf_map_lookup_elem(&zs_untracked, &key);
	if (!v || v->action == ZS_UNTRACKED_PASS)
		return ZS_UNTRACKED_CLEAR;
	if (v->action != ZS_UNTRACKED_DENY || !enforcing)
		return ZS_UNTRACKED_LATER;
	/* the event's fate, as zs_deny_event_allowed decides it (key.addr is
	 * the source as a tuple holds it: IPv4 in the first word); the
	 * budget's line keeps the clock, with or without a budget */
	line = bpf_map_lookup_elem(&zs_deny_budget, &zero);
	if (!line)
		return ZS_UNTRACKED_LATER;
	now = zs_deny_budget_now(line);
	budget = cfg->deny_events_per_cpu ? line : NULL; /* no budget: the line keeps the clock and counts */
	if (budget)
		zs_deny_budget_fill(cfg, budget, now);
	__builtin_memcpy(source.addr, key.addr, sizeof(source.addr));
	source.family = key.family;
	fate = zs_deny_event_fate(cfg, budget, &source, now, &rl, &held);
	if (fate == ZS_DENY_REPORT)
		return ZS_UNTRACKED_LATER; /* an event to send, naming ports */
	if (fate == ZS_DENY_HELD)
		zs_deny_count_held(held);
	/* counted as zs_finish, zs_deny_count_held and zs_deny_over_budget
	 * count, in the budget's line, which user space adds to those
	 * counters (include/zeroseg/event.h): no other counter's line. Past the
	 * budget, not in the source's slot of zs_deny_sources (a random line
	 * per packet, ~20 ns: bench/RESULTS.md): a blocklisted source reaches
	 * nothing a scan of which detection could report */
	line->early_drops++;
	line->early_bytes += len;
	if (fate == ZS_DENY_OVER_BUDGET)
		line->early_over_budget++;
	return ZS_UNTRACKED_DROPPED;
}

/* The early look as each entry program calls it: a global function of
 * the program's own context type (its frame its own, verified once). */
ZS_NOINLINE int zs_untracked_xdp(struct xdp_md *xdp)
{
	void *data = (void *)(long)xdp->data, *data_end = (void *)(long)xdp->data_end;

	return zs_untracked_early(data, data_end, xdp->ingress_ifindex, data_end - data);
}

ZS_NOINLINE int zs_untracked_skb(struct __sk_buff *skb)
{
	return zs_untracked_early((void *)(long)skb->data, (void *)(long)skb->data_end, skb->ifindex,
				  skb->len);
}

#endif
