// SPDX-License-Identifier: Apache-2.0
// An etcd v3 client over etcd's JSON gRPC gateway (/v3/kv/range, /v3/kv/txn,
// /v3/kv/put, /v3/kv/deleterange, /v3/lease/*, /v3/watch; keys and values
// base64 in the JSON), through cpp-httplib: etcd 3.4 serves the gateway on
// its client URLs, so the agent needs no gRPC stack. Every call is bounded
// by the options' timeouts, tries the endpoints in turn, and returns its
// error as a value: a failure never throws, on any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace zeroseg::etcd {

// A value or the reason there is none ("etcd at H:P: ...").
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit, like std::optional
  static Result failure(std::string why) { return Result(Failed{std::move(why), false}); }
  // etcd answered and refused the request (why holds its reason and code):
  // no outage, and no other member would answer otherwise
  static Result refusal(std::string why) { return Result(Failed{std::move(why), true}); }
  // another call's failure, as it was (a refusal stays one)
  template <class U>
  static Result failure_of(const Result<U>& other) {
    return Result(Failed{other.error(), other.refused()});
  }
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& operator*() const { return std::get<0>(v_); }
  T& operator*() { return std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const std::string& error() const { return std::get<1>(v_).why; }
  bool refused() const { return !ok() && std::get<1>(v_).refused; }

 private:
  struct Failed {
    std::string why;
    bool refused = false;
  };
  explicit Result(Failed f) : v_(std::move(f)) {}
  std::variant<T, Failed> v_;
};

struct Endpoint {
  std::string host;
  int port = 2379;
  std::string str() const { return host + ":" + std::to_string(port); }
};

struct ClientOptions {
  std::vector<Endpoint> endpoints;
  // TLS when ca is set (https to every endpoint, the server checked against
  // ca); cert and key: a client certificate, for etcd's --client-cert-auth.
  std::string ca, cert, key;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};
  // a call to one member takes at most connect_timeout + request_timeout in
  // all, and its reply (a watch: one message) at most this many bytes; a
  // member over either is one that does not answer (the next is asked)
  size_t max_reply_bytes = size_t(512) << 20;
};

// "etcd://H:P[,H:P...]" (a bare "H:P[,...]" too) into endpoints; nullopt
// and why in `error` when it is not that.
std::optional<std::vector<Endpoint>> parse_cluster_url(const std::string& url, std::string& error);

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store's revision when read
};

// One comparison of a transaction: target of key, compared to a value.
struct Compare {
  enum class Target { version, create_revision, mod_revision, value };
  enum class Op { equal, greater, less, not_equal };
  std::string key;
  Target target = Target::version;
  Op op = Op::equal;
  int64_t number = 0;  // version and revisions
  std::string value;   // Target::value
  std::string range_end;  // "": the key alone; else every key of [key, range_end) must compare so
  static Compare absent(std::string key) { return {std::move(key), Target::create_revision, Op::equal, 0, {}, {}}; }
  static Compare value_is(std::string key, std::string v) {
    return {std::move(key), Target::value, Op::equal, 0, std::move(v), {}};
  }
  static Compare mod_revision_is(std::string key, int64_t rev) {
    return {std::move(key), Target::mod_revision, Op::equal, rev, {}, {}};
  }
  // No key starts with prefix (etcd compares an empty range as one absent key).
  static Compare none_under(const std::string& prefix);
};

// One operation of a transaction's branch.
struct Op {
  enum class Kind { put, del, range };
  Kind kind = Kind::put;
  std::string key, value;
  std::string range_end;  // del and range: "" = key alone
  int64_t lease = 0;
  static Op put(std::string k, std::string v, int64_t lease = 0) {
    return {Kind::put, std::move(k), std::move(v), {}, lease};
  }
  static Op del(std::string k) { return {Kind::del, std::move(k), {}, {}, 0}; }
  static Op get(std::string k) { return {Kind::range, std::move(k), {}, {}, 0}; }
  static Op get_prefix(const std::string& prefix);
  static Op del_prefix(const std::string& prefix);
};

struct Txn {
  std::vector<Compare> compare;
  std::vector<Op> success, failure;
};

// etcd refuses a transaction with more operations in a branch than its
// --max-txn-ops (128 by default): Client::txn refuses such a transaction
// itself, with a message that says so and names the setting.
constexpr size_t kMaxTxnOps = 128;

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<RangeResult> ranges;  // one per range op of the branch taken, in order
};

struct Event {
  enum class Type { put, del };
  Type type = Type::put;
  KeyValue kv;  // del: key and mod_revision only
};

// One message of a watch stream.
struct WatchBatch {
  std::vector<Event> events;
  int64_t revision = 0;          // the store's revision at the message
  int64_t compact_revision = 0;  // > 0: the start revision was compacted away; relist
};

// What one member says of itself (/v3/maintenance/status).
struct MemberStatus {
  uint64_t member_id = 0, leader = 0;  // leader: 0 while none is elected
  int64_t revision = 0, raft_term = 0;
};

// The smallest key after every key that starts with prefix (a range end).
std::string prefix_end(const std::string& prefix);

std::string base64_encode(const std::string& bytes);
std::optional<std::string> base64_decode(const std::string& text);

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<RangeResult> range(const std::string& key, const std::string& range_end = "", int64_t revision = 0);
  Result<RangeResult> range_prefix(const std::string& prefix, int64_t revision = 0) {
    return range(prefix, prefix_end(prefix), revision);
  }
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);  // revision
  Result<int64_t> del(const std::string& key, const std::string& range_end = "");           // keys deleted
  Result<TxnResult> txn(const Txn& t);
  Result<int64_t> lease_grant(int64_t ttl_seconds);  // the lease's id
  Result<int64_t> lease_keepalive(int64_t id);       // the TTL left; 0: the lease is gone
  Result<int64_t> lease_revoke(int64_t id);
  Result<int64_t> lease_time_to_live(int64_t id);  // seconds left, without renewing; -1: gone
  // The member that answers (the current endpoint first), about itself.
  Result<MemberStatus> status();
  // Compacts the store's history up to revision (what etcd's auto-compaction
  // does): a watch from an older revision is then refused (compact_revision).
  Result<int64_t> compact(int64_t revision);

  // Watches keys from start_revision (0: now) on, calling on_batch for each
  // message, until on_batch returns false, stop() is called, the stream ends
  // or nothing arrived for idle (then it returns the revision to resume
  // from, without error: a quiet store). Returns the next revision to watch
  // from, or the error that ended the stream. created_revision: the store's
  // revision when etcd created the watch (0: it was not created).
  Result<int64_t> watch(const std::string& key, const std::string& range_end, int64_t start_revision,
                        const std::function<bool(const WatchBatch&)>& on_batch,
                        std::chrono::milliseconds idle = std::chrono::milliseconds(10000),
                        int64_t* created_revision = nullptr);
  // Ends a watch in progress (from another thread) and refuses new ones.
  void stop();

  const ClientOptions& options() const { return options_; }

 private:
  // POSTs a JSON body to path on the current endpoint, then the others;
  // a JSON body of the answer, or why none came: etcd's refusal (its
  // message and gRPC code), or the endpoints unreachable or unavailable.
  Result<std::string> call(const std::string& path, const std::string& body);

  ClientOptions options_;
  std::atomic<size_t> current_{0};  // the endpoint that answered last
  std::atomic<bool> stopped_{false};
  std::mutex watch_mu_;
  std::function<void()> stop_watch_;  // under watch_mu_
};

// ops (each standing alone: no reader needs them all at once) written in
// transactions of at most kMaxTxnOps; the last one's revision. A failure
// leaves the earlier ones written: the caller writes them all again.
Result<int64_t> txn_in_batches(Client& client, const std::vector<Op>& ops);

}  // namespace zeroseg::etcd
