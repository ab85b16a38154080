/* SPDX-License-Identifier: Apache-2.0 */
/* The ipcache's last answers by block, remembered per CPU (issue 16). A
 * flood from random sources of one block (a /16's, say) asks the ipcache
 * about a different address at every packet, and each is answered by the
 * same short prefix (a /15's): a hash probe of a 20-byte key and a bucket
 * per packet (zs_peer_lookup and the hash functions, 5-7% of a denied
 * packet's time, perf: bench/RESULTS.md).
 *
 * When an address's identity is its block's: the block is the /22 (IPv6:
 * /54) that zs_ipcache_blocks keeps a bit for, at every prefix length
 * longer than /16 (/48) (ipcache.h). When the filter turns away every
 * length in use longer than the block, no key longer than the block holds
 * any address of it, and the keys of the lengths left are the block's own
 * or shorter: every address of the block has the same longest match. Only
 * such an answer is remembered, for the block: zs_ipcache_probe calls
 * zs_ipcache_memo_unsure when it looks up a key longer than the block.
 *
 * A slot answers only under the generation whose ipcache answered: every
 * change of the ipcache moves the generation on, and the entries' slot
 * packets read does not change under one generation. A bit of the filter
 * is never cleared; one set for a key written since came with a later
 * generation. Emptied by the agent at a load that makes zs_config anew,
 * as the verdict memo is (verdict_memo.h: generations start again).
 * New flows use it (zs_peer_lookup), traces never: BPF_PROG_TEST_RUN may
 * be interrupted between the question and the answer, which the memo
 * keeps in `asked` per CPU (XDP and tc programs do not nest on a CPU).
 *
 * Direct-mapped, overwritten on a collision: 64 slots of 24 bytes. The
 * questions are subprograms: zs_peer_lookup's frame is in the deepest
 * call chain, with no room for their hashing. */
#ifndef ZS_BPF_IPCACHE_MEMO_H
#define ZS_BPF_IPCACHE_MEMO_H

#include "common.h"
#include "maps.h"
#include <zeroseg/ipcache.h>

/* The block's length for family: what a bit of the filter stands for. */
static __always_inline __u32 zs_ipcache_memo_block_len(__u8 family)
{
	return (family == ZS_FAMILY_IPV4 ? ZS_IPCACHE_BLOCK4_LEN : ZS_IPCACHE_BLOCK6_LEN) + 6;
}

/* Word w (0 or 1) of addr masked to its block: the block's 54 bits at
 * most are in the first two words. */
static __always_inline __u32 zs_ipcache_memo_word(__u8 family, const __u32 *addr, __u32 w)
{
	__u32 len = zs_ipcache_memo_block_len(family), bits = len > w * 32 ? len - w * 32 : 0;

	if (bits >= 32)
		return addr[w];
	return bits ? addr[w] & bpf_htonl(~0U << (32 - bits)) : 0;
}

static __always_inline struct zs_ipcache_memo *zs_ipcache_memo_get_map(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&zs_ipcache_memo, &zero);
}

static __always_inline struct zs_ipcache_memo_slot *
zs_ipcache_memo_slot_of(struct zs_ipcache_memo *m, __u8 family, __u32 b0, __u32 b1)
{
	return &m->slot[zs_hash_mix(zs_hash_mix(family, b0), b1) & (ZS_IPCACHE_MEMO_SLOTS - 1)];
}

/* The identity remembered for addr's block under generation, or 0: then
 * the block is asked (zs_ipcache_memo_put answers it). */
static ZS_NOINLINE __u32 zs_ipcache_memo_get(__u8 family, const __u32 *addr, __u64 generation)
{
	struct zs_ipcache_memo *m = zs_ipcache_memo_get_map();
	struct zs_ipcache_memo_slot *s;
	__u32 b0, b1;

	if (!m || !addr)
		return 0;
	b0 = zs_ipcache_memo_word(family, addr, 0);
	b1 = zs_ipcache_memo_word(family, addr, 1);
	s = zs_ipcache_memo_slot_of(m, family, b0, b1);
	if (generation && s->generation == generation && s->family == family &&
	    s->block[0] == b0 && s->block[1] == b1) {
		m->asked.generation = 0;
		return s->identity;
	}
	m->asked.generation = generation;
	m->asked.block[0] = b0;
	m->asked.block[1] = b1;
	m->asked.family = family;
	return 0;
}

/* A key longer than the asked block was looked up: its answer is not the
 * block's. */
static __always_inline void zs_ipcache_memo_unsure(void)
{
	struct zs_ipcache_memo *m = zs_ipcache_memo_get_map();

	if (m)
		m->asked.generation = 0;
}

/* identity: the longest match of addr, which zs_ipcache_memo_get asked
 * about, remembered for its block unless a longer key was looked up
 * since. The block is taken from addr again and must be the asked one:
 * `asked` torn by anyone emptying the map under live programs (an update
 * of a per-CPU value is a plain copy) files nothing under another block,
 * and a generation torn (bytes zeroed: a smaller number) is one no packet
 * reads again. */
static ZS_NOINLINE void zs_ipcache_memo_put(__u8 family, const __u32 *addr, __u32 identity)
{
	struct zs_ipcache_memo *m = zs_ipcache_memo_get_map();
	struct zs_ipcache_memo_slot *s;
	__u64 generation;
	__u32 b0, b1;

	if (!m || !addr)
		return;
	generation = m->asked.generation;
	b0 = zs_ipcache_memo_word(family, addr, 0);
	b1 = zs_ipcache_memo_word(family, addr, 1);
	if (!generation || m->asked.family != family || m->asked.block[0] != b0 ||
	    m->asked.block[1] != b1)
		return;
	m->asked.generation = 0;
	s = zs_ipcache_memo_slot_of(m, family, b0, b1);
	s->block[0] = b0;
	s->block[1] = b1;
	s->family = family;
	s->identity = identity;
	s->generation = generation; /* last: a slot half written is no one's */
}

#endif
