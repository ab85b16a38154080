// SPDX-License-Identifier: Apache-2.0
// Whether the log's lines to stderr start with their syslog priority
// ("<4>", as sd-daemon(3) has it) for journald: only when stderr is the
// very stream $JOURNAL_STREAM names (device:inode), so a shell, a pipe or
// a file that the service's stderr was redirected to never sees the
// prefix. Decided at the first line (common/log.cpp).
#pragma once

namespace zeroseg::log {

// Decides again (tests, after moving stderr).
void detect_journal();
bool to_journal();

}  // namespace zeroseg::log
