/* SPDX-License-Identifier: Apache-2.0 */
/* The maps' default sizes (entries; the ring buffer in bytes), declared
 * once: bpf/lib/maps.h builds the maps with them, and the agent may set
 * others before load (MapSizes, userspace/abi/defaults.h). */
#ifndef ZEROSEG_MAP_SIZES_H
#define ZEROSEG_MAP_SIZES_H

#define ZS_DEFAULT_IPCACHE_ENTRIES 262144
#define ZS_DEFAULT_ENDPOINTS_ENTRIES 4096
#define ZS_DEFAULT_POLICY_ENTRIES 262144
#define ZS_DEFAULT_SOURCES_ENTRIES 65536
#define ZS_DEFAULT_SOURCE_PREFIXES_ENTRIES 16384
#define ZS_DEFAULT_UNTRACKED_ENTRIES 262144 /* both slots' */
#define ZS_DEFAULT_CONNTRACK4_ENTRIES 262144
#define ZS_DEFAULT_CONNTRACK6_ENTRIES 65536
#define ZS_DEFAULT_FRAGMENTS_ENTRIES 8192
#define ZS_DEFAULT_DENY_LIMITER_ENTRIES 16384
#define ZS_DEFAULT_EVENTS_BYTES (4 << 20)

#endif
