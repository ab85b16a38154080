// SPDX-License-Identifier: Apache-2.0
// Why a TLS connection to etcd failed, in words an operator can act on.
// cpp-httplib says only "SSLConnection" or "Read" (a TLS 1.3 server judges
// the client's certificate after the handshake, so a refused certificate
// shows up as a failed read), which the agent reported as "etcd
// unreachable". After such a failure the client connects once more with
// OpenSSL itself and reads the server's alert: "etcd refused this node's
// client certificate (--etcd-cert FILE): tlsv1 alert unknown ca".
#pragma once

#include <string>

#include "sources/etcd_client.h"

namespace zeroseg::etcd {

// A sentence naming the setting at fault, or "" when a TLS connection to
// `e` works (the failure was something else) or cannot be tried (no TCP
// connection: unreachable, said elsewhere). Bounded by o's timeouts.
std::string diagnose_tls(const ClientOptions& o, const Endpoint& e);

}  // namespace zeroseg::etcd
