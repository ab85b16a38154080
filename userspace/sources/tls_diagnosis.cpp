// SPDX-License-Identifier: Apache-2.0
#include "sources/tls_diagnosis.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>

namespace zeroseg::etcd {
namespace {

std::string last_ssl_error() {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0) last = code;  // the innermost says most
  if (!last) return "no reason given";
  const char* r = ERR_reason_error_string(last);
  return r ? r : "error " + std::to_string(last);
}

// A TCP connection to e within the timeout, or -1.
int connect_to(const Endpoint& e, std::chrono::milliseconds timeout) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(e.host.c_str(), std::to_string(e.port).c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

bool refuses_certificate(const std::string& reason) {
  return reason.find("alert") != std::string::npos &&
         (reason.find("certificate") != std::string::npos || reason.find("unknown ca") != std::string::npos);
}

// Without a certificate of its own the node cannot have been refused one:
// tell the operator which settings etcd asks for instead.
std::string client_certificate_refused(const ClientOptions& o, const std::string& reason) {
  if (o.cert.empty())
    return "etcd asks for a client certificate and none is set: give --etcd-cert and --etcd-key (" + reason + ")";
  return "etcd refused this node's client certificate (--etcd-cert " + o.cert + "): " + reason;
}

}  // namespace

std::string diagnose_tls(const ClientOptions& o, const Endpoint& e) {
  if (o.ca.empty()) return {};
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!ctx) return "TLS: " + last_ssl_error();
  if (SSL_CTX_load_verify_locations(ctx.get(), o.ca.c_str(), nullptr) != 1)
    return "cannot load --etcd-ca " + o.ca + ": " + last_ssl_error();
  if (!o.cert.empty() && SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert.c_str()) != 1)
    return "cannot load --etcd-cert " + o.cert + ": " + last_ssl_error();
  if (!o.key.empty() && SSL_CTX_use_PrivateKey_file(ctx.get(), o.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return "cannot load --etcd-key " + o.key + ": " + last_ssl_error();
  if (!o.cert.empty() && SSL_CTX_check_private_key(ctx.get()) != 1)
    return "--etcd-key " + o.key + " is not the key of --etcd-cert " + o.cert;
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  int fd = connect_to(e, o.connect_timeout);
  if (fd < 0) return {};
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  // the server's name or address checked against its certificate, as httplib does
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (X509_VERIFY_PARAM_set1_ip_asc(param, e.host.c_str()) != 1) {
    X509_VERIFY_PARAM_set1_host(param, e.host.c_str(), 0);
    SSL_set_tlsext_host_name(ssl.get(), e.host.c_str());
  }
  std::string why;
  if (SSL_connect(ssl.get()) != 1) {
    long v = SSL_get_verify_result(ssl.get());
    std::string reason = last_ssl_error();
    if (v != X509_V_OK)
      why = "etcd's server certificate does not verify against --etcd-ca " + o.ca + ": " +
            X509_verify_cert_error_string(v);
    else if (refuses_certificate(reason))
      why = client_certificate_refused(o, reason);
    else
      why = "TLS handshake failed: " + reason;
  } else {
    // TLS 1.3: the server's verdict on our certificate arrives with our first read
    const std::string req = "POST /v3/maintenance/status HTTP/1.1\r\nHost: " + e.str() +
                            "\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    char buf[64];
    if (SSL_write(ssl.get(), req.data(), static_cast<int>(req.size())) <= 0 || SSL_read(ssl.get(), buf, sizeof buf) <= 0) {
      std::string reason = last_ssl_error();
      if (refuses_certificate(reason) || o.cert.empty()) why = client_certificate_refused(o, reason);
    }
  }
  SSL_shutdown(ssl.get());
  close(fd);
  return why;
}

}  // namespace zeroseg::etcd
