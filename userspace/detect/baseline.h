// SPDX-License-Identifier: Apache-2.0
// The learned baseline: which edges (source identity, destination identity,
// protocol, port) have carried traffic, and which lateral-movement services
// each source identity has tried. During the learning period everything is
// learned and nothing is new; after it, the first sight of an edge or of a
// service use is news (once: it is learned at the same time).
//
// Identities are keyed by their labels (or the name of a reserved or CIDR
// identity), not by number: numbers are reallocated when label sets come
// and go, labels are what an operator means. The baseline is kept in the
// agent's state dir as JSON, so a restart neither forgets it nor starts
// learning again:
//   {"version":1,"learning_started":<unix ns>,
//    "edges":[[SRC,DST,PROTO,PORT],...],"services":[[SRC,PORT],...]}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

namespace zeroseg {

class Baseline {
 public:
  // At most this many edges are learned; past it, nothing is new (counted).
  static constexpr size_t kMaxEdges = 1'000'000;

  explicit Baseline(int64_t learning_ns) : learning_ns_(learning_ns) {}

  struct Novelty {
    bool edge = false;     // first traffic on (src, dst, proto, port)
    bool service = false;  // src's first try of this lateral-movement port
  };
  // An edge that carried traffic (a flow started or answered).
  Novelty traffic(const std::string& src, const std::string& dst, uint8_t proto, uint16_t port, int64_t now);
  // A try (any outcome) on a lateral-movement port.
  bool service_try(const std::string& src, uint16_t port, int64_t now);

  bool learning(int64_t now) const;
  std::optional<int64_t> learning_started() const { return started_; }
  size_t edges() const { return edges_.size(); }
  size_t services() const { return services_.size(); }
  size_t overflow() const { return overflow_; }
  bool dirty() const { return dirty_; }

  std::string to_json() const;
  // Throws Error naming `what` when the text is not a baseline.
  void load_json(const std::string& text, const std::string& what);
  void saved() { dirty_ = false; }

 private:
  void start(int64_t now);
  int64_t learning_ns_;
  std::optional<int64_t> started_;
  std::unordered_set<std::string> edges_, services_;
  size_t overflow_ = 0;
  bool dirty_ = false;
};

}  // namespace zeroseg
