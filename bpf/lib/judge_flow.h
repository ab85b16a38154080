/* SPDX-License-Identifier: Apache-2.0 */
/* A flow's judgement: its identities (the peer's lazily where it cannot
 * decide), then the policy's answer, from the verdict memo when the same
 * question was judged under this generation. Shared by the new-flow,
 * re-judge and trace paths of pipeline.h. */
#ifndef ZS_BPF_JUDGE_FLOW_H
#define ZS_BPF_JUDGE_FLOW_H

#include "events.h"
#include "flow_ctx.h"
#include "ipcache_lookup.h"
#include "lazy_peer.h"
#include "maps.h"
#include "parse.h"
#include "policy_lookup.h"
#include "verdict_memo.h"

/* Not fc->mode[dir]: clang turns that into (fc | dir) on the stack pointer,
 * which the verifier rejects. */
static __always_inline __u8 zs_mode_of(const struct zs_flow_ctx *fc, __u8 dir)
{
	return dir ? fc->mode[1] : fc->mode[0];
}

static __always_inline const struct zs_config *zs_get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&zs_config, &zero);
}

/* How zs_judge_flow judges. */
enum zs_judge_how {
	/* the peer's identity only if it can decide, else ZS_PEER_UNRESOLVED
	 * for zs_peer_resolve (lazy_peer.h) */
	ZS_JUDGE_LAZY_PEER = 1,
	/* the policy's answer from the verdict memo when the same question was
	 * judged under this generation, and remembered (verdict_memo.h): not
	 * for a trace, which runs where a packet's program may interrupt it
	 * (BPF_PROG_TEST_RUN) halfway through a memo slot */
	ZS_JUDGE_MEMO = 2,
};

/* Judges the flow whose original packet has tuple t and policy port port,
 * travelling in direction info->direction; info learns the identities.
 * how: zs_judge_how's flags. */
static __always_inline void zs_judge_flow(const struct zs_config *cfg,
					  const struct zs_flow_ctx *fc,
					  const struct zs_tuple *t, __u16 port,
					  struct zs_judgement *j,
					  struct zs_event_info *info, int how)
{
	const struct zs_lookup_plan *plan = &cfg->plan[fc->slot & 1];
	__u8 dir = info->direction & 1;
	struct zs_policy_query q = {
		.subject = fc->subject,
		.direction = dir,
		.proto = t->proto,
		.port = port,
		.mode = zs_mode_of(fc, dir),
		.slot = fc->slot,
	};
	const __u32 *peer_addr = dir == ZS_DIR_INGRESS ? t->saddr : t->daddr;
	struct zs_verdict_memo_slot *memo;

	if (!(how & ZS_JUDGE_LAZY_PEER))
		q.peer = zs_ipcache_identity(plan, fc->slot, t->family, peer_addr);
	else if (q.mode == ZS_MODE_OFF || zs_policy_needs_peer(plan, q.subject, dir, q.proto, q.port))
		q.peer = zs_peer_lookup(plan, fc->generation, t, dir);
	else
		q.peer = ZS_PEER_UNRESOLVED;
	info->subject = q.subject;
	info->peer = q.peer;
	/* off: allowed without a probe, nothing to remember */
	if (q.mode == ZS_MODE_OFF || !(how & ZS_JUDGE_MEMO)) {
		zs_policy_judge(plan, &q, j);
		return;
	}
	memo = zs_verdict_memo_slot_of(&q);
	if (!zs_verdict_memo_get(memo, &q, fc->generation, j))
		zs_verdict_memo_put(memo, &q, fc->generation, j, zs_policy_judge(plan, &q, j));
}

#endif
