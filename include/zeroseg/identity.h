/* SPDX-License-Identifier: Apache-2.0 */
/* Security identities: a number per distinct label set. Both ends of every
 * packet are resolved to one of these before policy is consulted. */
#ifndef ZEROSEG_IDENTITY_H
#define ZEROSEG_IDENTITY_H

enum zs_reserved_identity {
	ZS_ID_ANY = 0,        /* wildcard in policy keys; never assigned */
	ZS_ID_HOST = 1,       /* the node itself */
	ZS_ID_WORLD = 2,      /* any address not in the ipcache */
	ZS_ID_QUARANTINE = 3, /* a workload cut off by a detector or operator */
	ZS_ID_RESERVED_MAX = 255,
	ZS_ID_FIRST_ALLOCATED = 256,
};

#endif
