// SPDX-License-Identifier: Apache-2.0
#include "detect/baseline.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace zeroseg {
namespace {

constexpr char kSep = '\x1f';  // never in a label or a name

std::string edge_key(const std::string& src, const std::string& dst, uint8_t proto, uint16_t port) {
  return src + kSep + dst + kSep + std::to_string(proto) + kSep + std::to_string(port);
}
std::string service_key(const std::string& src, uint16_t port) { return src + kSep + std::to_string(port); }

std::vector<std::string> split(const std::string& key) {
  std::vector<std::string> out(1);
  for (char c : key) {
    if (c == kSep)
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}

}  // namespace

void Baseline::start(int64_t now) {
  if (started_) return;
  started_ = now;
  dirty_ = true;
}

bool Baseline::learning(int64_t now) const { return !started_ || now - *started_ < learning_ns_; }

Baseline::Novelty Baseline::traffic(const std::string& src, const std::string& dst, uint8_t proto, uint16_t port,
                                    int64_t now) {
  start(now);
  Novelty n;
  if (edges_.size() >= kMaxEdges) {
    overflow_ += !edges_.count(edge_key(src, dst, proto, port));
    return n;
  }
  if (!edges_.insert(edge_key(src, dst, proto, port)).second) return n;
  dirty_ = true;
  n.edge = !learning(now);
  return n;
}

bool Baseline::service_try(const std::string& src, uint16_t port, int64_t now) {
  start(now);
  if (!services_.insert(service_key(src, port)).second) return false;
  dirty_ = true;
  return !learning(now);
}

std::string Baseline::to_json() const {
  nlohmann::json j;
  j["version"] = 1;
  j["learning_started"] = started_ ? nlohmann::json(*started_) : nlohmann::json();
  j["edges"] = nlohmann::json::array();
  for (const auto& k : edges_) {
    auto f = split(k);
    j["edges"].push_back({f[0], f[1], std::stoi(f[2]), std::stoi(f[3])});
  }
  j["services"] = nlohmann::json::array();
  for (const auto& k : services_) {
    auto f = split(k);
    j["services"].push_back({f[0], std::stoi(f[1])});
  }
  return j.dump() + "\n";
}

void Baseline::load_json(const std::string& text, const std::string& what) {
  try {
    auto j = nlohmann::json::parse(text);
    if (j.value("version", 0) != 1) throw Error(what + ": not a version 1 baseline");
    started_.reset();
    if (!j["learning_started"].is_null()) started_ = j["learning_started"].get<int64_t>();
    edges_.clear();
    services_.clear();
    for (const auto& e : j.at("edges"))
      edges_.insert(edge_key(e.at(0).get<std::string>(), e.at(1).get<std::string>(), e.at(2).get<uint8_t>(),
                             e.at(3).get<uint16_t>()));
    for (const auto& s : j.at("services")) services_.insert(service_key(s.at(0).get<std::string>(), s.at(1).get<uint16_t>()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": " + e.what());
  }
  dirty_ = false;
}

}  // namespace zeroseg
