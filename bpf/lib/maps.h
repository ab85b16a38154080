/* SPDX-License-Identifier: Apache-2.0 */
/* Every map of the datapath, one line each on what it holds. Sizes here are
 * defaults: the agent sets max_entries before load. */
#ifndef ZS_BPF_MAPS_H
#define ZS_BPF_MAPS_H

#include "common.h"
#include "packet.h"
#include <zeroseg/config.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/map_sizes.h>
#include <zeroseg/endpoint.h>
#include <zeroseg/event.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/policy.h>
#include <zeroseg/policy_forms.h>
#include <zeroseg/source.h>
#include <zeroseg/trace.h>
#include <zeroseg/untracked.h>
#include <zeroseg/verdict.h>

/* generation (active slot + policy revision), lookup plans, limits */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_config);
} zs_config SEC(".maps");

/* IP prefix -> identity, a hash per prefix length (see ipcache.h) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, ZS_DEFAULT_IPCACHE_ENTRIES);
	__type(key, struct zs_ipcache_key);
	__type(value, struct zs_ipcache_value);
} zs_ipcache SEC(".maps");

/* a bit per block of every ipcache key ever written (ipcache.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ZS_IPCACHE_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} zs_ipcache_blocks SEC(".maps");

/* ifindex -> subject identity, attachment kind, mode per direction */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_DEFAULT_ENDPOINTS_ENTRIES);
	__type(key, __u32);
	__type(value, struct zs_endpoint_value);
} zs_endpoints SEC(".maps");

/* the endpoints read last, per CPU, by generation (endpoint_memo.h) */
#define ZS_ENDPOINT_MEMO_SLOTS 16
struct zs_endpoint_memo_slot {
	__u64 generation; /* whose slot of zs_endpoints was copied; 0 = empty */
	struct zs_endpoint endpoint;
	__u32 ifindex;
	__u32 _pad;
};

struct zs_endpoint_memo {
	struct zs_endpoint_memo_slot slot[ZS_ENDPOINT_MEMO_SLOTS];
};
_Static_assert(sizeof(struct zs_endpoint_memo_slot) == 24, "an endpoint memo slot: 24 bytes");
_Static_assert((ZS_ENDPOINT_MEMO_SLOTS & (ZS_ENDPOINT_MEMO_SLOTS - 1)) == 0, "slots: a power of two");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_endpoint_memo);
} zs_endpoint_memo SEC(".maps");

/* the map id of the zs_config whose generations zs_endpoint_memo's slots
 * hold, written by the agent at load (endpoint_memo.h); programs never
 * read it */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} zs_endpoint_memo_config SEC(".maps");

/* (subject, peer, direction, proto, port prefix) -> allow/deny (policy.h) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, ZS_DEFAULT_POLICY_ENTRIES);
	__type(key, struct zs_policy_key);
	__type(value, struct zs_policy_value);
} zs_policy SEC(".maps");

/* a bit per form (the key but its peer) of every policy key ever written (policy_forms.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ZS_POLICY_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} zs_policy_filter SEC(".maps");

/* (ifindex, source address) -> own / a local workload's (source.h) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, ZS_DEFAULT_SOURCES_ENTRIES);
	__type(key, struct zs_source_key);
	__type(value, struct zs_source_value);
} zs_sources SEC(".maps");

/* (ifindex, prefix) -> a workload's allowedSourcePrefixes (source.h) */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, ZS_DEFAULT_SOURCE_PREFIXES_ENTRIES);
	__type(key, struct zs_source_prefix_key);
	__type(value, struct zs_source_prefix_value);
} zs_source_prefixes SEC(".maps");

/* (slot, ifindex, family, source prefix) -> an untracked deny's answer
 * (include/zeroseg/untracked.h) */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, ZS_DEFAULT_UNTRACKED_ENTRIES);
	__type(key, struct zs_untracked_key);
	__type(value, struct zs_untracked_value);
} zs_untracked SEC(".maps");

/* (ifindex, 5-tuple) -> flow state, IPv4 flows (a smaller key: see
 * zs_ct_key4); LRU evicts the coldest when full */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ZS_DEFAULT_CONNTRACK4_ENTRIES);
	__type(key, struct zs_ct_key4);
	__type(value, struct zs_ct_entry);
} zs_conntrack4 SEC(".maps");

/* the same for IPv6 flows */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ZS_DEFAULT_CONNTRACK6_ENTRIES);
	__type(key, struct zs_ct_key);
	__type(value, struct zs_ct_entry);
} zs_conntrack6 SEC(".maps");

/* ifindex -> the conntrack entries its endpoint holds, per table (see
 * zs_ct_usage); sized as zs_endpoints */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZS_DEFAULT_ENDPOINTS_ENTRIES);
	__type(key, __u32);
	__type(value, struct zs_ct_usage);
} zs_ct_usage SEC(".maps");

/* two bits per port: some flow's first packet came from it, went to it
 * (deny_fastpath.h); never cleared */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZS_CT_ORIGIN_PORT_WORDS);
	__type(key, __u32);
	__type(value, struct zs_ct_port_bits);
} zs_ct_origin_ports SEC(".maps");

/* first fragment's ports, for the fragments that follow it */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ZS_DEFAULT_FRAGMENTS_ENTRIES);
	__type(key, struct zs_frag_key);
	__type(value, struct zs_frag_value);
} zs_fragments SEC(".maps");

/* source address -> deny event token bucket */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ZS_DEFAULT_DENY_LIMITER_ENTRIES);
	__type(key, struct zs_deny_source_key);
	__type(value, struct zs_ratelimit);
} zs_deny_ratelimit SEC(".maps");

/* Sources with a reported deny (deny_sources.h): a slot per source,
 * chosen by a keyed hash and holding the address whole, with its denies
 * held back since its last report (past the budget, or by its empty
 * bucket) and, when its bucket was last found empty, the time its next
 * token is due. Shared by the CPUs (a source reported on one may flood on
 * another); slots are taken only within the budget, as the LRU's inserts
 * are. (Was zs_deny_known_sources, a 16-bit tag per slot, and before it
 * zs_deny_known: retired, datapath.cpp.) */
#define ZS_DENY_SOURCE_BITS 14
#define ZS_DENY_SOURCE_SLOTS (1 << ZS_DENY_SOURCE_BITS)
struct zs_deny_source_slot {
	__u32 saddr[4];	  /* the source (zs_deny_source_key's addr) */
	__u16 family;	  /* and its family */
	__u16 known;	  /* 1: saddr and family are a source's (0.0.0.0 is an address too) */
	__u32 suppressed; /* its denies held back since its last report */
	__u64 held_until; /* its bucket has no token before this (coarse ns); 0: not held */
};

struct zs_deny_sources {
	/* the hash's multipliers (odd), drawn at the first claim; key[0] 0:
	 * not yet (a line of its own: the slots' lines are written) */
	__u64 key[5];
	__u64 _pad[3];
	struct zs_deny_source_slot slot[ZS_DENY_SOURCE_SLOTS];
};
_Static_assert(sizeof(struct zs_deny_source_slot) == 32, "a deny source slot: half a cache line");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_deny_sources);
} zs_deny_sources SEC(".maps");

/* deny events' per-CPU budget, the CPU's coarse clock per tick
 * (zs_deny_event_allowed, zs_deny_budget_now: events.h) and the untracked
 * deny's early drops (include/zeroseg/event.h) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_deny_budget);
} zs_deny_budget SEC(".maps");

/* denied flows per CPU, direct-mapped (deny_cache.h) */
#define ZS_DENY_CACHE_SLOTS 4096
struct zs_deny_cache_slot {
	struct zs_tuple tuple;
	__u64 generation;  /* what judged; 0 = empty */
	__u64 expires_tai; /* the deciding deny rule's end; 0 = never */
	__u32 ifindex;
	__u32 rule_id;
	__u32 subject;
	__u32 peer;
	__u16 policy_port;
	__u8 reason;
	__u8 direction;
	__u8 hook;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZS_DENY_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct zs_deny_cache_slot);
} zs_deny_cache SEC(".maps");

/* one tag per slot of zs_deny_cache, per CPU (deny_cache.h): 8 KiB that
 * stay in cache, read before the 320 KiB of slots */
struct zs_deny_cache_tags {
	__u16 tag[ZS_DENY_CACHE_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_deny_cache_tags);
} zs_deny_cache_tags SEC(".maps");

/* policy answers per CPU, direct-mapped (verdict_memo.h) */
#define ZS_VERDICT_MEMO_SLOTS 64
struct zs_verdict_memo_slot {
	__u64 generation;  /* the generation that judged; 0 = empty */
	__u64 until_tai;   /* the answer's own end (zs_live); 0 = none */
	__u64 expires_tai; /* the judgement's (j->expires_tai), handed back with it */
	__u32 subject;
	__u32 peer;
	__u32 rule_id;
	__u16 port;
	__u8 direction;
	__u8 proto;
	__u8 mode;
	__u8 verdict;
	__u8 reason;
	__u8 pad;
};

struct zs_verdict_memo {
	struct zs_verdict_memo_slot slot[ZS_VERDICT_MEMO_SLOTS];
};
_Static_assert(sizeof(struct zs_verdict_memo_slot) == 48, "a memo slot: 48 bytes");
_Static_assert((ZS_VERDICT_MEMO_SLOTS & (ZS_VERDICT_MEMO_SLOTS - 1)) == 0, "slots: a power of two");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_verdict_memo);
} zs_verdict_memo SEC(".maps");

/* the ipcache's answers per block, per CPU, direct-mapped (ipcache_memo.h) */
#define ZS_IPCACHE_MEMO_SLOTS 64
struct zs_ipcache_memo_slot {
	__u64 generation; /* the generation whose ipcache answered; 0 = empty */
	__u32 block[2];	  /* the address's first 64 bits, masked to the block */
	__u32 identity;
	__u8 family;
	__u8 _pad[3];
};

struct zs_ipcache_memo {
	/* the block asked last, while its probes run (generation 0: none,
	 * or a key longer than the block was looked up) */
	struct zs_ipcache_memo_slot asked;
	struct zs_ipcache_memo_slot slot[ZS_IPCACHE_MEMO_SLOTS];
};
_Static_assert(sizeof(struct zs_ipcache_memo_slot) == 24, "an ipcache memo slot: 24 bytes");
_Static_assert((ZS_IPCACHE_MEMO_SLOTS & (ZS_IPCACHE_MEMO_SLOTS - 1)) == 0, "slots: a power of two");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_ipcache_memo);
} zs_ipcache_memo SEC(".maps");

/* flow and deny events to the agent */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ZS_DEFAULT_EVENTS_BYTES);
} zs_events SEC(".maps");

/* records this CPU submitted while the event ring held more than its
 * wakeup mark, since it last saw the ring under it (zs_event_wakeup) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} zs_event_pace SEC(".maps");

/* packets and bytes per verdict x direction, per reason, and extras; one
 * element (see struct zs_counters) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_counters);
} zs_counters SEC(".maps");

/* Updating an ARRAY_OF_MAPS makes the syscall wait for running programs
 * (synchronize_rcu): the agent's barrier after flipping the generation.
 * Never read by the datapath. */
struct zs_barrier_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} zs_barrier_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct zs_barrier_inner);
} zs_barrier SEC(".maps") = {
	.values = { [0] = &zs_barrier_inner },
};

/* the judgement of the last `policy trace` packet, per CPU */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_trace_result);
} zs_trace SEC(".maps");

/* per-CPU scratch space for values too large for the 512-byte stack */
struct zs_scratch {
	struct zs_ct_entry ct;
	struct zs_ct_key key;
	/* the packet an ICMP error quotes (zs_parse_quoted): its tuple, the
	 * rest zero; a zs_packet, for zs_rejudge */
	struct zs_packet quoted;
	__u32 error_len;       /* that error's IP datagram, its header on */
	__u8 quote_whole;      /* quoted.tuple was parsed whole */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_scratch);
} zs_scratch SEC(".maps");

static __always_inline struct zs_scratch *zs_get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&zs_scratch, &zero);
}

static __always_inline void zs_count(__u32 idx, __u32 bytes)
{
	__u32 zero = 0;
	struct zs_counters *cs = bpf_map_lookup_elem(&zs_counters, &zero);

	barrier_var(idx); /* or clang drops the bound the verifier needs */
	if (cs && idx < ZS_CTR_MAX) {
		cs->slot[idx].packets++;
		cs->slot[idx].bytes += bytes;
	}
}

#endif
