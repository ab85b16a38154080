// SPDX-License-Identifier: Apache-2.0
// Client::watch: the gateway's /v3/watch answers a create_request with a
// stream of JSON messages, one a line, for as long as the connection lives.
#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sources/etcd_client.h"

namespace zeroseg::etcd {
namespace {

using json = nlohmann::json;

int64_t number(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) return std::strtoll(it->get<std::string>().c_str(), nullptr, 10);
  return 0;
}

std::string bytes(const json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || !it->is_string() ? std::string() : base64_decode(it->get<std::string>()).value_or("");
}

// One line of the stream; false and why when it ends the watch.
struct StreamState {
  int64_t next = 0;  // the revision to resume from
  bool created = false;
  int64_t created_revision = 0;
  bool stopped_by_caller = false;
  std::string failure;
};

bool take_message(const std::string& line, StreamState& st, const std::function<bool(const WatchBatch&)>& on_batch) {
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) {
    st.failure = "etcd watch: unreadable message: " + line.substr(0, 120);
    return false;
  }
  if (auto e = j.find("error"); e != j.end()) {
    st.failure = "etcd watch: " + (e->is_object() ? e->value("message", e->dump()) : e->dump());
    return false;
  }
  auto r = j.find("result");
  if ((r == j.end() || !r->is_object()) && j.contains("message") && j.contains("code")) {
    // the gateway's refusal of the whole watch (its reply to an HTTP error
    // status), e.g. "etcdserver: no leader" (code 14)
    st.failure = "etcd watch: " + j.value("message", std::string()) + " (code " + j["code"].dump() + ")";
    return false;
  }
  if (r == j.end() || !r->is_object()) return true;
  WatchBatch b;
  if (auto h = r->find("header"); h != r->end()) b.revision = number(*h, "revision");
  if (r->value("created", false)) {
    st.created = true;
    st.created_revision = b.revision;
    if (st.next == 0) st.next = b.revision + 1;
  }
  b.compact_revision = number(*r, "compact_revision");
  if (auto evs = r->find("events"); evs != r->end() && evs->is_array()) {
    for (const auto& ev : *evs) {
      Event e;
      e.type = ev.value("type", std::string("PUT")) == "DELETE" ? Event::Type::del : Event::Type::put;
      if (auto kv = ev.find("kv"); kv != ev.end()) {
        e.kv.key = bytes(*kv, "key");
        e.kv.value = bytes(*kv, "value");
        e.kv.create_revision = number(*kv, "create_revision");
        e.kv.mod_revision = number(*kv, "mod_revision");
        e.kv.version = number(*kv, "version");
        e.kv.lease = number(*kv, "lease");
      }
      st.next = std::max(st.next, e.kv.mod_revision + 1);
      b.events.push_back(std::move(e));
    }
  }
  if (!b.events.empty() || b.compact_revision > 0) {
    if (!on_batch(b)) {
      st.stopped_by_caller = true;
      return false;
    }
  }
  if (b.compact_revision > 0) return false;  // etcd cancels the watch: the caller relists
  if (r->value("canceled", false)) {
    st.failure = "etcd watch canceled: " + r->value("cancel_reason", std::string("no reason given"));
    return false;
  }
  return true;
}

}  // namespace

Result<int64_t> Client::watch(const std::string& key, const std::string& range_end, int64_t start_revision,
                              const std::function<bool(const WatchBatch&)>& on_batch, std::chrono::milliseconds idle,
                              int64_t* created_revision) {
  if (created_revision) *created_revision = 0;
  json create = {{"key", base64_encode(key)}};
  if (!range_end.empty()) create["range_end"] = base64_encode(range_end);
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  const std::string body = json{{"create_request", create}}.dump();
  std::string why;
  size_t n = options_.endpoints.size();
  for (size_t k = 0; k < n; k++) {
    size_t i = (current_.load() + k) % n;
    const Endpoint& e = options_.endpoints[i];
    ClientOptions o = options_;
    o.request_timeout = idle;
    httplib::Client c(o.ca.empty() ? "http://" + e.str() : "https://" + e.str(), o.cert, o.key);
    if (!o.ca.empty()) c.set_ca_cert_path(o.ca);
    c.set_connection_timeout(o.connect_timeout);
    c.set_read_timeout(idle);
    c.set_write_timeout(o.connect_timeout);
    {
      std::lock_guard lock(watch_mu_);
      if (stopped_) return Result<int64_t>::failure("etcd watch: the client is stopping");
      stop_watch_ = [&c] { c.stop(); };
    }
    StreamState st;
    st.next = start_revision;
    std::string buf;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v3/watch";
    req.body = body;
    req.set_header("Content-Type", "application/json");
    // A member cut off from its quorum serves a watch from its own store,
    // which no longer moves: the stream stays open and silent while the
    // others take writes, and the node believes itself in step. etcd's
    // "hasleader" (grpc-gateway passes Grpc-Metadata-* headers on as gRPC
    // metadata; clientv3's WithRequireLeader) makes the member end the
    // watch once it has had no leader for a few election timeouts ("no
    // leader", code 14): the watcher then lists and watches at another
    // member (unit.EtcdCluster.AWatchOnAMemberWithoutALeaderEnds).
    req.set_header("Grpc-Metadata-hasleader", "true");
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      buf.append(data, len);
      for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
        bool go_on = false;
        try {
          go_on = take_message(line, st, on_batch);
        } catch (const std::exception& ex) {  // a callback's: a value from here on
          st.failure = std::string("etcd watch: ") + ex.what();
        }
        if (!go_on) return false;
      }
      // one message without its end: a member must not take the agent's memory
      if (buf.size() > options_.max_reply_bytes) {
        st.failure = "etcd watch at " + e.str() + ": a message over " + std::to_string(options_.max_reply_bytes) + " bytes";
        return false;
      }
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    bool sent = c.send(req, res, err);
    {
      std::lock_guard lock(watch_mu_);
      stop_watch_ = nullptr;
    }
    if (created_revision) *created_revision = st.created_revision;
    if (!st.failure.empty()) return Result<int64_t>::failure(st.failure);
    if (st.stopped_by_caller || stopped_) return st.next;
    if (sent && res.status != 200) {
      // etcd's reason, when what is left unread is its error reply (no newline ends it)
      json reply = json::parse(buf, nullptr, false);
      std::string why_not = reply.is_object() ? reply.value("message", std::string()) : std::string();
      return Result<int64_t>::failure("etcd at " + e.str() + " refused the watch: HTTP " + std::to_string(res.status) +
                                      (why_not.empty() ? "" : " (" + why_not + ")"));
    }
    if (!st.created && (err == httplib::Error::Connection || err == httplib::Error::SSLConnection)) {
      why += (why.empty() ? "" : "; ") + e.str() + ": " + httplib::to_string(err);
      continue;  // the next endpoint may answer
    }
    current_ = i;
    if (!st.created && !sent)
      return Result<int64_t>::failure("etcd watch at " + e.str() + ": " + httplib::to_string(err));
    return st.next;  // idle, or the stream ended: resume from next
  }
  return Result<int64_t>::failure("etcd unreachable (" + why + ")");
}

}  // namespace zeroseg::etcd
