/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ZEROSEG_ENDPOINT_H
#define ZEROSEG_ENDPOINT_H

#include "types.h"
#include "slots.h"

/* What an attached interface fronts. */
enum zs_attach_kind {
	/* The host end of a workload's veth: packets arriving on it leave the
	 * workload (its egress), packets sent on it enter it (its ingress). */
	ZS_ATTACH_WORKLOAD = 0,
	/* The host's own uplink: arriving packets are the host's ingress. */
	ZS_ATTACH_HOST = 1,
};

/* Per subject and direction. */
enum zs_mode {
	ZS_MODE_OFF = 0,     /* no policy selects it: everything passes */
	ZS_MODE_AUDIT = 1,   /* default deny is reported, not enforced */
	ZS_MODE_ENFORCE = 2, /* default deny */
};

struct zs_endpoint {
	__u32 identity; /* the subject; ZS_ID_ANY = absent in this slot */
	__u8 kind;      /* zs_attach_kind */
	__u8 mode[ZS_DIR_MAX];
	__u8 pad;
};

/* endpoints: ifindex -> subject. An interface with a program attached but no
 * entry passes everything (counted as unmanaged). */
struct zs_endpoint_value {
	struct zs_endpoint slot[ZS_SLOTS];
};

ZS_STATIC_ASSERT(sizeof(struct zs_endpoint_value) == 16, "zs_endpoint_value ABI");

#endif
