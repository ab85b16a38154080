// SPDX-License-Identifier: Apache-2.0
#include "sources/etcd_client.h"
#include "sources/tls_diagnosis.h"
#include "sources/bounded_send.h"

#include <httplib.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>

namespace zeroseg::etcd {
namespace {

using json = nlohmann::json;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The gateway writes int64 as JSON strings and leaves zero values out.
int64_t int_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

// Member ids are uint64 (written as strings): past INT64_MAX for half of them.
uint64_t uint_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_unsigned() || it->is_number_integer()) return it->get<uint64_t>();
  if (it->is_string()) return std::strtoull(it->get<std::string>().c_str(), nullptr, 10);
  return 0;
}

std::string bytes_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return {};
  return base64_decode(it->get<std::string>()).value_or("");
}

KeyValue key_value(const json& j) {
  KeyValue kv;
  kv.key = bytes_field(j, "key");
  kv.value = bytes_field(j, "value");
  kv.create_revision = int_field(j, "create_revision");
  kv.mod_revision = int_field(j, "mod_revision");
  kv.version = int_field(j, "version");
  kv.lease = int_field(j, "lease");
  return kv;
}

int64_t header_revision(const json& j) {
  auto h = j.find("header");
  return h == j.end() ? 0 : int_field(*h, "revision");
}

RangeResult range_result(const json& j) {
  RangeResult r;
  r.revision = header_revision(j);
  if (auto kvs = j.find("kvs"); kvs != j.end() && kvs->is_array())
    for (const auto& kv : *kvs) r.kvs.push_back(key_value(kv));
  return r;
}

json range_request(const std::string& key, const std::string& range_end, int64_t revision) {
  json r = {{"key", base64_encode(key)}};
  if (!range_end.empty()) r["range_end"] = base64_encode(range_end);
  if (revision > 0) r["revision"] = std::to_string(revision);
  return r;
}

json op_json(const Op& op) {
  switch (op.kind) {
    case Op::Kind::put: {
      json p = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease) p["lease"] = std::to_string(op.lease);
      return {{"request_put", p}};
    }
    case Op::Kind::del: {
      json d = {{"key", base64_encode(op.key)}};
      if (!op.range_end.empty()) d["range_end"] = base64_encode(op.range_end);
      return {{"request_delete_range", d}};
    }
    case Op::Kind::range:
      return {{"request_range", range_request(op.key, op.range_end, 0)}};
  }
  return {};
}

json compare_json(const Compare& c) {
  static const char* kTargets[] = {"VERSION", "CREATE", "MOD", "VALUE"};
  static const char* kResults[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
  json j = {{"key", base64_encode(c.key)},
            {"target", kTargets[static_cast<int>(c.target)]},
            {"result", kResults[static_cast<int>(c.op)]}};
  if (!c.range_end.empty()) j["range_end"] = base64_encode(c.range_end);
  switch (c.target) {
    case Compare::Target::version: j["version"] = std::to_string(c.number); break;
    case Compare::Target::create_revision: j["create_revision"] = std::to_string(c.number); break;
    case Compare::Target::mod_revision: j["mod_revision"] = std::to_string(c.number); break;
    case Compare::Target::value: j["value"] = base64_encode(c.value); break;
  }
  return j;
}

// gRPC's status codes, as the gateway's error replies carry them
const char* grpc_code_name(int64_t code) {
  static const char* kNames[] = {"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
                                 "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
                                 "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
                                 "Unauthenticated"};
  return code >= 0 && code < int64_t(std::size(kNames)) ? kNames[code] : "?";
}

// What an etcd error reply says ({"error": ..., "message": ..., "code": N}).
struct EtcdError {
  bool whole = false;  // a JSON object with etcd's code: the reply was read to its end
  int64_t code = 0;
  std::string text;  // "MESSAGE (code N, NAME)"
};

EtcdError etcd_error(const std::string& body) {
  EtcdError e;
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) {
    e.text = body.substr(0, 200);
    return e;
  }
  if (auto m = j.find("message"); m != j.end() && m->is_string()) e.text = m->get<std::string>();
  else if (auto r = j.find("error"); r != j.end() && r->is_string()) e.text = r->get<std::string>();
  if (auto c = j.find("code"); c != j.end() && c->is_number_integer()) {
    e.whole = true;
    e.code = c->get<int64_t>();
    e.text += " (code " + std::to_string(e.code) + ", " + grpc_code_name(e.code) + ")";
  }
  return e;
}

// etcd answers, but this member cannot serve now (no leader, a timeout in
// raft): another member may, and all of them saying so is an outage
bool member_unavailable(int64_t code) { return code == 4 || code == 14; }  // DeadlineExceeded, Unavailable

std::unique_ptr<httplib::Client> http_client(const ClientOptions& o, const Endpoint& e) {
  std::unique_ptr<httplib::Client> c;
  if (o.ca.empty()) {
    c = std::make_unique<httplib::Client>("http://" + e.str());
  } else {
    c = std::make_unique<httplib::Client>("https://" + e.str(), o.cert, o.key);
    c->set_ca_cert_path(o.ca);
    c->enable_server_certificate_verification(true);
  }
  c->set_connection_timeout(o.connect_timeout);
  c->set_read_timeout(o.request_timeout);
  c->set_write_timeout(o.request_timeout);
  c->set_keep_alive(false);
  return c;
}

template <class F>
auto guarded(const std::string& what, F&& f) -> decltype(f()) {
  // nlohmann throws on a body of the wrong shape: a value, never an escape
  try {
    return f();
  } catch (const std::exception& e) {
    return decltype(f())::failure("etcd " + what + ": unexpected answer: " + e.what());
  }
}

}  // namespace

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kB64[(n >> s) & 63];
  }
  if (size_t rest = bytes.size() - i; rest > 0) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    if (rest == 2) n |= uint8_t(bytes[i + 1]) << 8;
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += rest == 2 ? kB64[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(const std::string& text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t n = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; k++) {
      char c = text[i + k];
      uint32_t v;
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v = 0;
        pad++;
      } else if (pad) {
        return std::nullopt;
      } else if (const char* p = std::strchr(kB64, c); p && c) {
        v = static_cast<uint32_t>(p - kB64);
      } else {
        return std::nullopt;
      }
      n = (n << 6) | v;
    }
    out += char(n >> 16);
    if (pad < 2) out += char((n >> 8) & 0xff);
    if (pad < 1) out += char(n & 0xff);
  }
  return out;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (uint8_t(end.back()) < 0xff) {
      end.back() = char(uint8_t(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::optional<std::vector<Endpoint>> parse_cluster_url(const std::string& url, std::string& error) {
  std::string rest = url;
  if (rest.rfind("etcd://", 0) == 0) rest = rest.substr(7);
  std::vector<Endpoint> out;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    std::string item = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t colon = item.rfind(':');
    std::string host = colon == std::string::npos ? item : item.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = 2379;
    if (colon != std::string::npos) {
      std::string p = item.substr(colon + 1);
      bool digits = !p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == std::string::npos;
      port = digits ? std::stoi(p) : 0;
      if (port < 1 || port > 65535) {
        error = "'" + item + "' has no port 1-65535 (want etcd://HOST:PORT[,HOST:PORT...])";
        return std::nullopt;
      }
    }
    if (host.empty() || host.find_first_of("/ @?#") != std::string::npos) {
      error = "'" + item + "' is no HOST:PORT (want etcd://HOST:PORT[,HOST:PORT...])";
      return std::nullopt;
    }
    out.push_back({host, port});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// OpenSSL writes a TLS connection with write(2), not send(MSG_NOSIGNAL):
// an etcd that closes one (a refused client certificate, a restart) would
// kill the process with SIGPIPE. A failed write is an error value here.
Client::Client(ClientOptions options) : options_(std::move(options)) { signal(SIGPIPE, SIG_IGN); }
Client::~Client() { stop(); }

void Client::stop() {
  stopped_ = true;
  std::lock_guard lock(watch_mu_);
  if (stop_watch_) stop_watch_();
}

Result<std::string> Client::call(const std::string& path, const std::string& body) {
  if (options_.endpoints.empty()) return Result<std::string>::failure("etcd: no endpoints");
  std::string why;
  bool tls_refused = false;
  size_t n = options_.endpoints.size();
  for (size_t k = 0; k < n; k++) {
    size_t i = (current_.load() + k) % n;
    const Endpoint& e = options_.endpoints[i];
    auto c = http_client(options_, e);
    // the status and body as they arrive: etcd's error replies end in a
    // trailer (Grpc-Trailer-Content-Type after the last chunk), which
    // cpp-httplib 0.11 takes for a broken connection once it has read the
    // whole reply; the reply is etcd's word all the same
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body;
    req.set_header("Content-Type", "application/json");
    int status = 0;
    std::string answer;
    bool too_big = false;
    req.response_handler = [&](const httplib::Response& r) {
      status = r.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      // a member that never ends its reply must not take the agent's memory
      if (answer.size() + len > options_.max_reply_bytes) return too_big = true, false;
      answer.append(data, len);
      return true;
    };
    httplib::Response res;
    auto err = httplib::Error::Success;
    bool late = false;
    bool sent = send_within(*c, req, res, err, options_, late);
    EtcdError refusal;
    if (status != 0 && status != 200) refusal = etcd_error(answer);
    if (too_big || late) {
      why += (why.empty() ? "" : "; ") + e.str() + ": " +
             (too_big ? "a reply over " + std::to_string(options_.max_reply_bytes) + " bytes"
                      : "no whole reply within " + std::to_string(deadline_of(options_).count()) + " ms");
      continue;
    }
    if (!sent && !refusal.whole) {
      // unreachable or silent: the next endpoint may answer. httplib names
      // a TLS failure in one word ("Read" for a refused client certificate
      // under TLS 1.3): ask the endpoint why (sources/tls_diagnosis.h)
      std::string what = httplib::to_string(err);
      if (!options_.ca.empty() &&
          (err == httplib::Error::SSLConnection || err == httplib::Error::SSLServerVerification ||
           err == httplib::Error::SSLLoadingCerts || err == httplib::Error::Read || err == httplib::Error::Write)) {
        if (std::string d = diagnose_tls(options_, e); !d.empty()) {
          what = d;
          tls_refused = true;
        }
      }
      why += (why.empty() ? "" : "; ") + e.str() + ": " + what;
      continue;
    }
    // only etcd's own error reply is its refusal: a proxy's error page, or
    // anything else at that address, is a member that does not answer (an
    // outage when none does), never a refusal that hides one
    if (status != 200 && (!refusal.whole || member_unavailable(refusal.code))) {
      why += (why.empty() ? "" : "; ") + e.str() + ": " +
             (refusal.whole ? refusal.text : "HTTP " + std::to_string(status) + ", not etcd's reply: " + printable(refusal.text));
      continue;
    }
    current_ = i;
    if (status != 200) return Result<std::string>::refusal("etcd at " + e.str() + " refused " + path + ": " + refusal.text);
    return answer;
  }
  return Result<std::string>::failure((tls_refused ? "etcd refused the TLS connection (" : "etcd unreachable (") + why + ")");
}

Result<RangeResult> Client::range(const std::string& key, const std::string& range_end, int64_t revision) {
  auto body = call("/v3/kv/range", range_request(key, range_end, revision).dump());
  if (!body) return Result<RangeResult>::failure_of(body);
  return guarded("range", [&]() -> Result<RangeResult> { return range_result(json::parse(*body)); });
}

Result<int64_t> Client::put(const std::string& key, const std::string& value, int64_t lease) {
  json r = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease) r["lease"] = std::to_string(lease);
  auto body = call("/v3/kv/put", r.dump());
  if (!body) return Result<int64_t>::failure_of(body);
  return guarded("put", [&]() -> Result<int64_t> { return header_revision(json::parse(*body)); });
}

Result<int64_t> Client::del(const std::string& key, const std::string& range_end) {
  json r = {{"key", base64_encode(key)}};
  if (!range_end.empty()) r["range_end"] = base64_encode(range_end);
  auto body = call("/v3/kv/deleterange", r.dump());
  if (!body) return Result<int64_t>::failure_of(body);
  return guarded("deleterange", [&]() -> Result<int64_t> { return int_field(json::parse(*body), "deleted"); });
}

Result<TxnResult> Client::txn(const Txn& t) {
  if (size_t most = std::max({t.compare.size(), t.success.size(), t.failure.size()}); most > kMaxTxnOps)
    return Result<TxnResult>::failure("a transaction of " + std::to_string(most) + " operations: etcd refuses more than " +
                                      std::to_string(kMaxTxnOps) + " in one (its --max-txn-ops)");
  json r = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : t.compare) r["compare"].push_back(compare_json(c));
  for (const auto& op : t.success) r["success"].push_back(op_json(op));
  for (const auto& op : t.failure) r["failure"].push_back(op_json(op));
  auto body = call("/v3/kv/txn", r.dump());
  if (!body) return Result<TxnResult>::failure_of(body);
  return guarded("txn", [&]() -> Result<TxnResult> {
    json j = json::parse(*body);
    TxnResult out;
    out.succeeded = j.value("succeeded", false);
    out.revision = header_revision(j);
    if (auto rs = j.find("responses"); rs != j.end() && rs->is_array())
      for (const auto& resp : *rs)
        if (auto rr = resp.find("response_range"); rr != resp.end()) out.ranges.push_back(range_result(*rr));
    return out;
  });
}

Result<int64_t> Client::lease_grant(int64_t ttl_seconds) {
  auto body = call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_seconds)}}.dump());
  if (!body) return Result<int64_t>::failure_of(body);
  return guarded("lease grant", [&]() -> Result<int64_t> {
    json j = json::parse(*body);
    if (j.contains("error") && !j["error"].get<std::string>().empty())
      return Result<int64_t>::refusal("etcd lease grant: " + j["error"].get<std::string>());
    return int_field(j, "ID");
  });
}

Result<int64_t> Client::lease_keepalive(int64_t id) {
  auto body = call("/v3/lease/keepalive", json{{"ID", std::to_string(id)}}.dump());
  if (!body) return Result<int64_t>::failure_of(body);
  return guarded("lease keepalive", [&]() -> Result<int64_t> {
    // a stream of one message: the first line
    json j = json::parse(body->substr(0, body->find('\n')));
    auto res = j.find("result");
    return res == j.end() ? 0 : int_field(*res, "TTL");
  });
}

Result<int64_t> Client::lease_time_to_live(int64_t id) {
  auto body = call("/v3/lease/timetolive", json{{"ID", std::to_string(id)}}.dump());
  if (!body) return Result<int64_t>::failure_of(body);
  return guarded("lease timetolive", [&]() -> Result<int64_t> {
    json j = json::parse(*body);
    return j.contains("TTL") ? int_field(j, "TTL") : -1;
  });
}

Result<int64_t> Client::lease_revoke(int64_t id) {
  auto body = call("/v3/lease/revoke", json{{"ID", std::to_string(id)}}.dump());
  if (!body) return Result<int64_t>::failure_of(body);
  return guarded("lease revoke", [&]() -> Result<int64_t> { return header_revision(json::parse(*body)); });
}

Result<int64_t> txn_in_batches(Client& client, const std::vector<Op>& ops) {
  int64_t revision = 0;
  for (size_t i = 0; i < ops.size(); i += kMaxTxnOps) {
    Txn t;
    t.success.assign(ops.begin() + static_cast<std::ptrdiff_t>(i),
                     ops.begin() + static_cast<std::ptrdiff_t>(std::min(ops.size(), i + kMaxTxnOps)));
    auto r = client.txn(t);
    if (!r) return Result<int64_t>::failure_of(r);
    revision = r->revision;
  }
  return revision;
}

}  // namespace zeroseg::etcd

namespace zeroseg::etcd {

Compare Compare::none_under(const std::string& prefix) {
  Compare c = absent(prefix);
  c.range_end = prefix_end(prefix);
  return c;
}

Op Op::get_prefix(const std::string& prefix) { return {Kind::range, prefix, {}, prefix_end(prefix), 0}; }
Op Op::del_prefix(const std::string& prefix) { return {Kind::del, prefix, {}, prefix_end(prefix), 0}; }

Result<MemberStatus> Client::status() {
  auto body = call("/v3/maintenance/status", "{}");
  if (!body) return Result<MemberStatus>::failure_of(body);
  return guarded("status", [&]() -> Result<MemberStatus> {
    json j = json::parse(*body);
    MemberStatus st;
    if (auto h = j.find("header"); h != j.end()) {
      st.member_id = uint_field(*h, "member_id");
      st.revision = int_field(*h, "revision");
    }
    st.leader = uint_field(j, "leader");
    st.raft_term = int_field(j, "raftTerm");
    return st;
  });
}

Result<int64_t> Client::compact(int64_t revision) {
  auto body = call("/v3/kv/compaction", json{{"revision", std::to_string(revision)}, {"physical", true}}.dump());
  if (!body) return Result<int64_t>::failure_of(body);
  return guarded("compaction", [&]() -> Result<int64_t> { return header_revision(json::parse(*body)); });
}

}  // namespace zeroseg::etcd
