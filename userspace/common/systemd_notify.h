// SPDX-License-Identifier: Apache-2.0
// The service manager's readiness protocol (sd_notify(3)) without
// libsystemd: one datagram of "KEY=VALUE" lines to $NOTIFY_SOCKET. Under
// systemd's Type=notify the unit is started (and units ordered after it,
// network-pre.target for zeroseg, may start) only once READY=1 arrives.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace zeroseg::systemd {

// Sends STATE to $NOTIFY_SOCKET ("/path", or "@name" for the abstract
// namespace). False when there is no socket to tell or the send failed:
// a service run by hand has no manager, which is no error.
bool notify(std::string_view state);

// The interval at which the manager wants WATCHDOG=1 ($WATCHDOG_USEC,
// for this process if $WATCHDOG_PID names another), 0 when it wants none.
uint64_t watchdog_usec();

}  // namespace zeroseg::systemd
