// SPDX-License-Identifier: Apache-2.0
// Which loader last pinned the programs under a pin directory.
//
// Some maps are kept right only by versions that know them: conntrack's
// port bits (zs_ct_origin_ports), the ipcache's and the policy's filter
// words. A version that does not know them (a rollback) tracks flows and
// writes keys without setting their bits; when this version loads over
// its pins again, those bits cannot be trusted. The stamp is the id of the
// program this version pinned last, kept beside the pins in a one-entry
// array that no BPF object declares: a loader from before the stamp
// re-pins its own programs and leaves the stamp alone, so the ids differ.
// A loader from after it (f3b648a on) stamps its own program too, so the
// stamp tells only of loaders from before it. Every loader since knows
// the maps above, but for zs_ipcache_blocks (4d0772f), whose
// predecessor's pin tells of a loader from before it (Datapath::load). A
// map added later must not rest on the stamp (attack review, session 22).
#pragma once

#include <string>

namespace zeroseg {

// True if the program pinned as `program_pin` under pin_dir is the one this
// version stamped: no other loader has pinned since.
bool pins_stamped_by_us(const std::string& pin_dir, const std::string& program_pin);

// Records program_fd's id as the stamp (creating and pinning the stamp).
void stamp_pins(const std::string& pin_dir, int program_fd);

// The stamp's pin name, removed with the other pins.
extern const char* const kPinStampName;

}  // namespace zeroseg
