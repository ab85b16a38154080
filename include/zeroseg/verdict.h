/* SPDX-License-Identifier: Apache-2.0 */
/* Verdicts and named drop/pass reasons, counted per CPU and carried in
 * events. Every packet that is dropped, or passed without a judgement, has a
 * reason here. */
#ifndef ZEROSEG_VERDICT_H
#define ZEROSEG_VERDICT_H

#include "types.h"

enum zs_verdict {
	ZS_VERDICT_ALLOWED = 0,   /* allowed by a rule or by conntrack */
	ZS_VERDICT_DENIED = 1,    /* dropped */
	ZS_VERDICT_AUDIT = 2,     /* passed, but enforce mode would drop it */
	ZS_VERDICT_UNMANAGED = 3, /* passed: no endpoint, mode off, or not IP */
	ZS_VERDICT_MAX = 4,
};

enum zs_reason {
	ZS_REASON_NONE = 0,
	ZS_REASON_POLICY_DENY,        /* an explicit deny rule */
	ZS_REASON_DEFAULT_DENY,       /* no allow rule under an enforcing direction */
	ZS_REASON_MALFORMED_L2,       /* truncated Ethernet or VLAN header */
	ZS_REASON_MALFORMED_IPV4,     /* truncated, bad version/IHL/length */
	ZS_REASON_MALFORMED_IPV6,     /* truncated fixed or extension header */
	ZS_REASON_MALFORMED_L4,       /* truncated TCP/UDP/SCTP/ICMP header */
	ZS_REASON_IPV6_EXT_LIMIT,     /* more extension headers than we walk */
	ZS_REASON_FRAG_NO_FIRST,      /* non-first fragment without its first */
	ZS_REASON_VLAN_LIMIT,         /* more than two VLAN tags */
	ZS_REASON_MAX,
};

/* Counter slots of the per-CPU counters map: packets and bytes. */
#define ZS_CTR_VERDICT(verdict, dir) ((verdict) * 2 + (dir))
#define ZS_CTR_REASON(reason) (ZS_VERDICT_MAX * 2 + (reason))
enum zs_counter_extra {
	ZS_CTR_EVENTS_LOST = ZS_VERDICT_MAX * 2 + ZS_REASON_MAX,
	ZS_CTR_EVENTS_SUPPRESSED,
	ZS_CTR_CT_REJUDGED,  /* established flows re-judged after a change */
	ZS_CTR_CT_REVOKED,   /* ... and cut */
	ZS_CTR_NON_IP,       /* ARP and other non-IP frames, always passed */
	ZS_CTR_MAX,
};

struct zs_counter {
	__u64 packets;
	__u64 bytes;
};

/* counters (per-CPU array of one element): every slot in one value, so a
 * packet reaches its slot by an offset into a value looked up with a
 * constant key, off its critical path. (Keyed by slot, the lookup waited
 * on the verdict, which waits on the conntrack entry: ~4 ns of the
 * established path, bench/RESULTS.md.) */
struct zs_counters {
	struct zs_counter slot[ZS_CTR_MAX];
};

/* per-CPU values are copied to user space in 8-byte strides */
ZS_STATIC_ASSERT(sizeof(struct zs_counters) % 8 == 0, "per-CPU value stride");

#endif
