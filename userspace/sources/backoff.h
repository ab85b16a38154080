// SPDX-License-Identifier: Apache-2.0
// The wait before the next try at etcd after a failure: doubling from
// `first` up to `cap`, each wait drawn at random in its upper half
// ([d/2, d]), so that a fleet of nodes that lost etcd together does not
// come back in one burst at each step (every node's first try at the
// same instant is what "thundering herd" means for a restarted etcd).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace zeroseg {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds cap, uint64_t seed = std::random_device{}())
      : first_(first), cap_(cap), step_(first), rng_(seed) {}
  // The next wait: never above cap, never below half of the current step.
  std::chrono::milliseconds next() {
    auto d = step_.count();
    std::uniform_int_distribution<int64_t> pick(d / 2, d);
    step_ = std::min(step_ * 2, cap_);
    return std::chrono::milliseconds(pick(rng_));
  }
  void reset() { step_ = first_; }

 private:
  std::chrono::milliseconds first_, cap_, step_;
  std::mt19937_64 rng_;
};

}  // namespace zeroseg
