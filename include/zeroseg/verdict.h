/* SPDX-License-Identifier: Apache-2.0 */
/* Verdicts and named drop/pass reasons, counted per CPU and carried in
 * events. Every packet that is dropped, or passed without a judgement, has a
 * reason here. */
#ifndef ZEROSEG_VERDICT_H
#define ZEROSEG_VERDICT_H

#include "types.h"

/* Each list below is the one place its values and names are written: the
 * enums here and user space's name tables (userspace/abi/names.cpp) are
 * made from it. X(NAME, "name") is ZS_VERDICT_NAME (ZS_REASON_NAME,
 * ZS_CTR_NAME), numbered in the order of the list and shown as "name".
 * Numbers and names are an ABI (maps an older agent pinned, events, JSON,
 * scripts that grep them): the asserts below pin the numbers. */

#define ZS_VERDICTS(X)                                                           \
	X(ALLOWED, "allowed")     /* allowed by a rule or by conntrack */        \
	X(DENIED, "denied")       /* dropped */                                  \
	X(AUDIT, "audit")         /* passed, but enforce mode would drop it */   \
	X(UNMANAGED, "unmanaged") /* passed: no endpoint, mode off, or not IP */

#define ZS_REASONS(X)                                                                         \
	X(NONE, "none")                     /* no reason to name */                           \
	X(POLICY_DENY, "policy-deny")       /* an explicit deny rule */                       \
	X(DEFAULT_DENY, "default-deny")     /* no allow rule under an enforcing direction */  \
	X(MALFORMED_L2, "malformed-l2")     /* truncated Ethernet or VLAN header */           \
	X(MALFORMED_IPV4, "malformed-ipv4") /* truncated, bad version/IHL/length */           \
	X(MALFORMED_IPV6, "malformed-ipv6") /* truncated fixed or extension header */         \
	X(MALFORMED_L4, "malformed-l4")     /* truncated TCP/UDP/SCTP/ICMP header */          \
	X(IPV6_EXT_LIMIT, "ipv6-ext-limit") /* more extension headers than we walk */         \
	X(FRAG_NO_FIRST, "fragment-without-first") /* non-first fragment without its first */ \
	X(VLAN_LIMIT, "vlan-limit")         /* more than two VLAN tags */                     \
	X(SPOOFED_SOURCE, "spoofed-source") /* a workload sent from an address not its own */ \
	X(UPLINK_SPOOFED_SOURCE, "uplink-spoofed-source") /* from outside, a local workload's source */ \
	X(CT_ENDPOINT_LIMIT, "ct-endpoint-limit") /* a new flow of an endpoint at its conntrack share */ \
	X(UNTRACKED_DENY, "untracked-deny") /* from a source an untracked deny names (untracked.h) */

/* The counter slots after the verdicts' and reasons'. */
#define ZS_COUNTERS(X)                                                                            \
	X(EVENTS_LOST, "events-lost")    /* events with no room in the ring buffer */             \
	X(EVENTS_SUPPRESSED, "deny-events-suppressed") /* deny events the rate limit held back */ \
	X(CT_REJUDGED, "flows-rejudged") /* established flows re-judged after a change */         \
	X(CT_REVOKED, "flows-revoked")   /* ... and cut */                                        \
	X(NON_IP, "non-ip-passed")       /* ARP and other non-IP frames, always passed */         \
	X(EVENTS_OVER_BUDGET, "deny-events-over-budget") /* of those suppressed, the per-CPU budget's */

#define ZS_VERDICT_ENUMERATOR(name, text) ZS_VERDICT_##name,
#define ZS_REASON_ENUMERATOR(name, text) ZS_REASON_##name,
#define ZS_CTR_ENUMERATOR(name, text) ZS_CTR_##name,

enum zs_verdict {
	ZS_VERDICTS(ZS_VERDICT_ENUMERATOR)
	ZS_VERDICT_MAX,
};

enum zs_reason {
	ZS_REASONS(ZS_REASON_ENUMERATOR)
	ZS_REASON_MAX,
};

/* Counter slots of the per-CPU counters map: packets and bytes. */
#define ZS_CTR_VERDICT(verdict, dir) ((verdict) * 2 + (dir))
#define ZS_CTR_REASON(reason) (ZS_VERDICT_MAX * 2 + (reason))
enum zs_counter_extra {
	/* the slot before the first of ZS_COUNTERS: the last reason's */
	ZS_CTR_EXTRA_BEFORE = ZS_CTR_REASON(ZS_REASON_MAX) - 1,
	ZS_COUNTERS(ZS_CTR_ENUMERATOR)
	ZS_CTR_MAX,
};
#define ZS_CTR_EXTRA_FIRST (ZS_CTR_EXTRA_BEFORE + 1)

ZS_STATIC_ASSERT(ZS_VERDICT_UNMANAGED == 3 && ZS_VERDICT_MAX == 4, "zs_verdict ABI");
ZS_STATIC_ASSERT(ZS_REASON_VLAN_LIMIT == 9 && ZS_REASON_UPLINK_SPOOFED_SOURCE == 11 &&
		 ZS_REASON_CT_ENDPOINT_LIMIT == 12 && ZS_REASON_UNTRACKED_DENY == 13 &&
		 ZS_REASON_MAX == 14, "zs_reason ABI");
ZS_STATIC_ASSERT(ZS_CTR_EVENTS_LOST == 22 && ZS_CTR_NON_IP == 26 && ZS_CTR_EVENTS_OVER_BUDGET == 27 &&
		 ZS_CTR_MAX == 28,
		 "counter slots ABI");

struct zs_counter {
	__u64 packets;
	__u64 bytes;
};

/* counters (per-CPU array of one element): every slot in one value, so a
 * packet reaches its slot by an offset into a value looked up with a
 * constant key, off its critical path. (Keyed by slot, the lookup waited
 * on the verdict, which waits on the conntrack entry: ~4 ns of the
 * established path, bench/RESULTS.md.) The untracked deny's drops before
 * the parse are counted in the deny budget's line instead (event.h):
 * Datapath::counter adds them to their four slots; a reader of this map
 * alone undercounts those. */
struct zs_counters {
	struct zs_counter slot[ZS_CTR_MAX];
};

/* per-CPU values are copied to user space in 8-byte strides */
ZS_STATIC_ASSERT(sizeof(struct zs_counters) % 8 == 0, "per-CPU value stride");

#endif
