/* SPDX-License-Identifier: Apache-2.0 */
/* The policy's last answers, remembered per CPU (issue 16). A new flow's
 * judgement probes the policy map once per form of key that can match it
 * (zs_policy_judge): a hash of a 16-byte key and a bucket each. Its answer
 * depends on the question alone (subject, peer, direction, protocol, port,
 * mode), the policy value's slot the generation picks (slots.h), and the
 * clock only through entries with an end. A flood from many sources asks
 * the same few questions: a random source of one block has the block's
 * identity, so after the ipcache every packet asks the policy the same.
 *
 * A memo slot answers only under the generation that judged it (every
 * change of policy, ipcache, endpoints or modes moves it on) and, when a
 * live entry the judgement read has an end, only until the earliest such
 * end (zs_live): an allow that ends, an enforced deny that ends, an
 * audited deny that ends, whether it decided or not. An entry already
 * ended stays so. An answer read from the memo is the one zs_policy_judge
 * gives: verdict, reason, rule and the judgement's end. New flows and
 * flows judged again go through it (zs_judge_flow); traces do not.
 *
 * Direct-mapped, per CPU, overwritten on a collision: 64 slots of 48
 * bytes, 3 KiB that stay in cache. A question's hash picks its slot; a
 * hit compares the whole question. A slot is written field by field: a
 * program that read half of it while another on the same CPU rewrote it
 * could pair one question with another's answer. XDP and tc programs do
 * not nest on a CPU (softirq, or bottom halves disabled), which every
 * per-CPU map of the datapath relies on already (zs_scratch's keys, the
 * deny cache); a trace (BPF_PROG_TEST_RUN, which a softirq may interrupt)
 * does not use the memo.
 *
 * Emptied by the agent at a load that makes zs_config anew
 * (Datapath::load): a memo pinned beside a new zs_config (whose
 * generations start again) would answer under a generation number of
 * another policy. A load beside a pinned zs_config leaves it: its
 * generations go on, and emptying it could tear a slot that a program
 * still attached is writing. */
#ifndef ZS_BPF_VERDICT_MEMO_H
#define ZS_BPF_VERDICT_MEMO_H

#include "common.h"
#include "maps.h"
#include "policy_lookup.h"

/* q's slot in this CPU's memo: read by zs_verdict_memo_get, written by
 * zs_verdict_memo_put on a miss. */
static __always_inline struct zs_verdict_memo_slot *
zs_verdict_memo_slot_of(const struct zs_policy_query *q)
{
	__u32 zero = 0, h;
	struct zs_verdict_memo *m = bpf_map_lookup_elem(&zs_verdict_memo, &zero);

	if (!m)
		return NULL;
	h = zs_hash_mix(q->subject, q->peer);
	h = zs_hash_mix(h, (__u32)q->port << 16 | (__u32)q->proto << 8 | q->direction);
	return &m->slot[zs_hash_mix(h, q->mode) & (ZS_VERDICT_MEMO_SLOTS - 1)];
}

/* 1 when m, q's slot, holds q's answer under generation: j holds it. */
static __always_inline int zs_verdict_memo_get(const struct zs_verdict_memo_slot *m,
					       const struct zs_policy_query *q, __u64 generation,
					       struct zs_judgement *j)
{
	if (!m || !generation || m->generation != generation || m->subject != q->subject ||
	    m->peer != q->peer || m->port != q->port || m->proto != q->proto ||
	    m->direction != q->direction || m->mode != q->mode)
		return 0;
	if (m->until_tai && bpf_ktime_get_tai_ns() >= m->until_tai)
		return 0;
	j->verdict = m->verdict;
	j->reason = m->reason;
	j->rule_id = m->rule_id;
	j->expires_tai = m->expires_tai;
	return 1;
}

/* Remembers in m, q's slot, q's answer j under generation, until
 * until_tai (0: no end). */
static __always_inline void zs_verdict_memo_put(struct zs_verdict_memo_slot *m,
						const struct zs_policy_query *q, __u64 generation,
						const struct zs_judgement *j, __u64 until_tai)
{
	if (!m)
		return;
	m->generation = generation;
	m->until_tai = until_tai;
	m->expires_tai = j->expires_tai;
	m->subject = q->subject;
	m->peer = q->peer;
	m->rule_id = j->rule_id;
	m->port = q->port;
	m->direction = q->direction;
	m->proto = q->proto;
	m->mode = q->mode;
	m->verdict = j->verdict;
	m->reason = j->reason;
}

#endif
