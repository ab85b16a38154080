/* SPDX-License-Identifier: Apache-2.0 */
/* Double-buffered map values: how a whole policy change becomes visible to
 * packets at one instant without copying unchanged entries.
 *
 * Every value of the ipcache, endpoints and policy maps holds two slots. The
 * datapath reads slot (generation & 1), where generation is one 64-bit word
 * in the config map. The agent writes a change into the inactive slot of each
 * entry it touches (new keys get an empty active slot, removed keys an empty
 * inactive slot), flips the generation with one atomic store, waits until no
 * program still runs with the old generation, then copies the new slot over
 * the old one in the entries it touched and deletes the keys that are empty
 * in both. Entries the change does not touch hold equal slots throughout. The
 * generation doubles as the policy revision that re-judges conntrack. */
#ifndef ZEROSEG_SLOTS_H
#define ZEROSEG_SLOTS_H

#define ZS_SLOTS 2

#endif
