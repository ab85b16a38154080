// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>

namespace zeroseg {

// The kind of the qdisc in an interface's ingress slot (handle ffff:),
// where zeroseg's clsact goes: "clsact", "ingress", or "" when there is
// none (or the interface is gone). An `ingress` qdisc there takes our
// filters for both directions into its one ingress block: our egress
// program would run on ingress and the interface's egress would be open.
std::string ingress_qdisc_kind(uint32_t ifindex);

}  // namespace zeroseg
