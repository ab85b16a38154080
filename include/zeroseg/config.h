/* SPDX-License-Identifier: Apache-2.0 */
/* The config map: one mmap-able array element shared by all programs. */
#ifndef ZEROSEG_CONFIG_H
#define ZEROSEG_CONFIG_H

#include "types.h"
#include "slots.h"

/* Distinct prefix lengths in use, per family, longest first: the ipcache is
 * probed once per length (see ipcache.h). */
#define ZS_MAX_PREFIX_LENS 16
/* Distinct port prefix lengths in use by policy keys (see policy.h). */
#define ZS_MAX_PORT_PLENS 17

enum zs_plan_flags {
	ZS_PLAN_ANY_PEER = 1 << 0,  /* some policy key has peer ZS_ID_ANY */
	ZS_PLAN_ANY_PROTO = 1 << 1, /* some policy key has proto ZS_PROTO_ANY */
	/* some zs_sources entry of this family is present in the slot: when
	 * clear, the source check's probe of zs_sources could only miss, and
	 * is skipped (a host uplink of a node with no workloads of the family
	 * pays none for a flood from random sources) */
	ZS_PLAN_SOURCES_V4 = 1 << 2,
	ZS_PLAN_SOURCES_V6 = 1 << 3,
	/* the slot's untracked trie has entries (untracked.h): when clear, a
	 * host uplink's packet skips its lookup */
	ZS_PLAN_UNTRACKED = 1 << 4,
};

struct zs_lookup_plan {
	__u8 v4_plens[ZS_MAX_PREFIX_LENS];
	__u8 v6_plens[ZS_MAX_PREFIX_LENS];
	__u8 port_plens[ZS_MAX_PORT_PLENS];
	__u8 n_v4_plens;
	__u8 n_v6_plens;
	__u8 n_port_plens;
	__u8 flags; /* zs_plan_flags: which wildcard probes can hit */
	__u8 pad[3];
};

/* Conntrack lifetimes in seconds without a packet, until the agent's
 * configuration says otherwise (zs_ct_timeout_ns in conntrack.h). */
#define ZS_DEFAULT_CT_TIMEOUT_TCP (6 * 3600)
#define ZS_DEFAULT_CT_TIMEOUT_TCP_CLOSING 10
#define ZS_DEFAULT_CT_TIMEOUT_OTHER 60
/* A TCP flow until it is established (zs_ct_tcp_state), as Linux's
 * nf_conntrack_tcp_timeout_syn_sent and _syn_recv: an unanswered SYN must
 * not hold an entry for the established lifetime. */
#define ZS_DEFAULT_CT_TIMEOUT_TCP_SYN_SENT 120
#define ZS_DEFAULT_CT_TIMEOUT_TCP_SYN_RECV 60
/* The share of each conntrack table one endpoint may hold per direction
 * (the flows it opens; the flows opened towards it), in percent, until the
 * agent's configuration says otherwise (zs_ct_usage). */
#define ZS_DEFAULT_CT_ENDPOINT_PERCENT 25

/* Deny events per source and second, and their burst, until the agent's
 * configuration says otherwise. */
#define ZS_DEFAULT_DENY_EVENTS_PER_SEC 20
#define ZS_DEFAULT_DENY_EVENTS_BURST 100
/* Deny events per CPU and second, from all sources together (its burst is
 * one second's worth): under a flood from more sources than the per-source
 * limiter holds, each packet would otherwise insert a source and report. */
#define ZS_DEFAULT_DENY_EVENTS_PER_CPU 2000

struct zs_config {
	/* Bumped by one per committed change; bit 0 selects the active slot. */
	__u64 generation;
	/* Deny events per source and second, and their burst. 0 = no limit. */
	__u32 deny_events_per_sec;
	__u32 deny_events_burst;
	/* Conntrack lifetimes in seconds without a packet. */
	__u32 ct_timeout_tcp;
	__u32 ct_timeout_tcp_closing;
	__u32 ct_timeout_other;
	__u32 ct_timeout_tcp_syn_sent;
	__u32 ct_timeout_tcp_syn_recv;
	/* Entries each share of one endpoint may hold (ct-endpoint-share
	 * of the table; an endpoint has an ingress and an egress share of
	 * each, zs_ct_usage), in zs_conntrack4 and zs_conntrack6; 0 = no
	 * limit. */
	__u32 ct_endpoint_share[2];
	/* Deny events per CPU and second, all sources; 0 = no such budget. */
	__u32 deny_events_per_cpu;
	struct zs_lookup_plan plan[ZS_SLOTS];
};

ZS_STATIC_ASSERT(sizeof(struct zs_lookup_plan) == 56, "zs_lookup_plan ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_config) == 160, "zs_config ABI");

#endif
