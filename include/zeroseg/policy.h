/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZEROSEG_POLICY_H
#define ZEROSEG_POLICY_H

#include "types.h"
#include "proto.h"
#include "slots.h"

/* policy: (subject, peer, direction, protocol, port prefix) -> verdict.
 *
 * A hash map, probed a bounded number of times per new flow:
 *   for peer in {peer identity, ZS_ID_ANY (if any key has it)}:
 *     for each port prefix length L in use (zs_lookup_plan, <= 17):
 *       key(subject, peer, dir, proto, port & mask(L), L)
 *     key(subject, peer, dir, ZS_PROTO_ANY, 0, 0) (if any key has it)
 * so the cost depends on the number of distinct port prefix lengths in use
 * (1 when all rules name single ports), never on the number of rules. A port range port..endPort is stored as the aligned power-of-two
 * blocks that cover it (at most 30). For ICMP and ICMPv6 the "port" is
 * type << 8 | code (zs_policy_port in proto.h), so a type-only rule is a /8
 * and a type+code rule a /16.
 *
 * One key can be named by several rules: the agent merges them into one
 * value holding the strongest deny and the longest-lived allow. Across keys
 * the datapath applies deny > audit-deny > allow > the endpoint's default. */
struct zs_policy_key {
	__u32 subject;   /* identity of the protected endpoint */
	__u32 peer;      /* identity of the other end, ZS_ID_ANY = any */
	__u8 direction;  /* zs_direction */
	__u8 proto;      /* ZS_PROTO_*, ZS_PROTO_ANY = any protocol */
	__u8 port_plen;  /* 0..16: leading bits of port that must match */
	__u8 pad;
	__u16 port;      /* host order, masked to port_plen */
	__u16 pad2;
};

/* rule ids are the agent's; 0 means "no rule" */
struct zs_policy_entry {
	__u32 allow_rule;
	__u32 deny_rule;
	__u64 allow_expires; /* CLOCK_TAI ns; 0 = never */
	__u64 deny_expires;  /* CLOCK_TAI ns; 0 = never */
	__u8 deny_audit;     /* the deny comes from an audit-mode policy */
	__u8 pad[7];
};

struct zs_policy_value {
	struct zs_policy_entry slot[ZS_SLOTS];
};

ZS_STATIC_ASSERT(sizeof(struct zs_policy_key) == 16, "zs_policy_key ABI");
ZS_STATIC_ASSERT(sizeof(struct zs_policy_entry) == 32, "zs_policy_entry ABI");

#endif
