/* SPDX-License-Identifier: Apache-2.0 */
/* Basic fixed-width types for headers shared by the BPF programs and the
 * agent. The kernel side gets them from vmlinux-free <linux/types.h>. */
#ifndef ZEROSEG_TYPES_H
#define ZEROSEG_TYPES_H

#include <linux/types.h>

#ifdef __cplusplus
#define ZS_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define ZS_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Directions are relative to the subject endpoint (the workload or host the
 * policy protects), never to the interface. */
enum zs_direction {
	ZS_DIR_INGRESS = 0, /* towards the subject */
	ZS_DIR_EGRESS = 1,  /* from the subject */
	ZS_DIR_MAX = 2,
};

#endif
