// SPDX-License-Identifier: Apache-2.0
// The probe filters' upkeep (bpf/lib/deny_fastpath.h): a key's bit is set
// before the key is written, so that no packet skips a probe that would
// find it.
#include <cstdint>
#include <vector>

#include "loader/datapath.h"
#include <zeroseg/policy_forms.h>

namespace zeroseg {

namespace {

// Atomic: another writer (a `zeroseg bpf` word) may set bits of the same
// word at once; a lost bit would hide an entry whose probe it guards.
void set_filter_bit(uint64_t* words, uint32_t bit) {
  uint64_t mask = uint64_t{1} << (bit & 63);
  uint64_t* word = &words[bit >> 6];
  if (!(__atomic_load_n(word, __ATOMIC_RELAXED) & mask)) __atomic_fetch_or(word, mask, __ATOMIC_SEQ_CST);
}

}  // namespace

void Datapath::mark_ipcache_key(const zs_ipcache_key& key) { set_filter_bit(ipcache_filter_, zs_ipcache_filter_bit(&key)); }

void Datapath::mark_policy_key(const zs_policy_key& key) { set_filter_bit(policy_filter_, zs_policy_form_bit(&key)); }

void Datapath::mark_source_key(const zs_source_key& key) {
  set_filter_bit(sources_blocks_, zs_source_block_bit(key.family, key.addr));
}

// Bits of keys removed since, and all of them after a load that set every
// bit (zs_sources pinned without the filter, or by another version), go
// at the first transaction of the process that holds the writers' lock:
// nothing else writes zs_sources then, and each word is stored whole, so
// a packet reads either the word before, or one with the bits of every
// key there. Without the lock (`zeroseg bpf` reading pins another process
// writes), bits are only ever set.
void Datapath::fit_sources_blocks(const std::vector<zs_source_key>& keys) {
  if (!pin_dir_.empty() && !writer_lock_) {
    for (const auto& k : keys) mark_source_key(k);
    return;
  }
  std::vector<uint64_t> words(ZS_SOURCE_BLOCKS_WORDS);
  for (const auto& k : keys) {
    uint32_t bit = zs_source_block_bit(k.family, k.addr);
    words[bit >> 6] |= uint64_t{1} << (bit & 63);
  }
  for (uint32_t i = 0; i < ZS_SOURCE_BLOCKS_WORDS; i++) __atomic_store_n(&sources_blocks_[i], words[i], __ATOMIC_SEQ_CST);
}

}  // namespace zeroseg
