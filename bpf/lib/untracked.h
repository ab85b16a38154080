/* SPDX-License-Identifier: Apache-2.0 */
/* Untracked deny on host uplinks, the first check after the parse
 * (include/zeroseg/untracked.h has the map and the semantics): a packet
 * arriving on an uplink from a source an untracked deny names is dropped
 * before conntrack, the source check and the endpoint's policy, and it
 * costs one trie lookup. A node without untracked rules pays a bit test
 * of the plan (ZS_PLAN_UNTRACKED) per packet.
 *
 * Only the source address is read, so whatever follows it in the packet
 * (a later fragment, IPv6 extension headers, a malformed header) cannot
 * take the packet past; VLAN tags are parsed away before. A match is
 * counted under untracked-deny and reported as a deny within the deny
 * events' budget; where the uplink's ingress audits, or the rule's policy
 * does, the packet is reported as audit and goes on to be judged as
 * usual (which reports it again if policy denies it); where it is off,
 * nothing is done. */
#ifndef ZS_BPF_UNTRACKED_H
#define ZS_BPF_UNTRACKED_H

#include "ctx.h"
#include "endpoint_memo.h"
#include "events.h"
#include "ipcache_lookup.h"
#include "maps.h"
#include "parse.h"

/* A global function (its own frame, verified once): 1 when p, arrived on
 * ifindex, is to be dropped. Read only when the slot has entries. */
ZS_NOINLINE int zs_untracked_match(struct zs_packet *p, __u32 ifindex, __u32 len, __u32 hook,
				   __u64 generation)
{
	struct zs_untracked_key key = {
		.prefixlen = ZS_UNTRACKED_KEY_BITS + 128,
		.ifindex = ifindex,
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
	v = slot ? bpf_map_lookup_elem(&zs_untracked1, &key) : bpf_map_lookup_elem(&zs_untracked0, &key);
	if (!v || v->action == ZS_UNTRACKED_PASS)
		return 0;
	/* the uplink's ingress mode (entries are written for uplinks only) */
	if (!zs_endpoint_memo_get(ifindex, generation, &ep) || ep.kind != ZS_ATTACH_HOST)
		return 0;
	mode = ep.mode[ZS_DIR_INGRESS];
	if (mode == ZS_MODE_OFF)
		return 0;
	drop = v->action == ZS_UNTRACKED_DENY && mode == ZS_MODE_ENFORCE;
	j.verdict = drop ? ZS_VERDICT_DENIED : ZS_VERDICT_AUDIT;
	j.rule_id = v->rule_id;
	zs_count(ZS_CTR_REASON(ZS_REASON_UNTRACKED_DENY), len);
	if (drop) /* an audited packet's verdict is counted where it is judged */
		zs_count(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, ZS_DIR_INGRESS), len);
	cfg = bpf_map_lookup_elem(&zs_config, &zero);
	if (cfg && zs_deny_event_allowed(cfg, &p->tuple, bpf_ktime_get_coarse_ns(), &info.suppressed)) {
		info.subject = ep.identity;
		info.peer = zs_ipcache_identity(&cfg->plan[slot], slot, p->tuple.family,
						p->tuple.saddr);
		zs_emit(ifindex, hook, p, &j, &info);
	}
	return drop;
}

/* 1 when p (its addresses parsed) arrived on an uplink from a source an
 * untracked deny drops. */
static __always_inline int zs_untracked_denied(const struct zs_config *cfg,
					       const struct zs_ctx *ctx, struct zs_packet *p)
{
	/* one read: the trie's slot and the endpoint's are the same one's */
	__u64 generation = *(volatile const __u64 *)&cfg->generation;

	if (ctx->hook == ZS_HOOK_TC_EGRESS || !(cfg->plan[generation & 1].flags & ZS_PLAN_UNTRACKED))
		return 0;
	return zs_untracked_match(p, ctx->ifindex, ctx->len, ctx->hook, generation);
}

#endif
