// SPDX-License-Identifier: Apache-2.0
// The probe filters' upkeep (bpf/lib/deny_fastpath.h): a key's bit is set
// before the key is written, so that no packet skips a probe that would
// find it.
#include <zeroseg/policy_forms.h>

#include <cstdint>

#include "loader/datapath.h"

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

void Datapath::mark_ipcache_key(const zs_ipcache_key& key) {
  set_filter_bit(ipcache_filter_, zs_ipcache_filter_bit(&key));
}

void Datapath::mark_policy_key(const zs_policy_key& key) { set_filter_bit(policy_filter_, zs_policy_form_bit(&key)); }

}  // namespace zeroseg
