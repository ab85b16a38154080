// SPDX-License-Identifier: Apache-2.0
// Prometheus text exposition (format 0.0.4) for /metrics: one writer that
// each part fills with its own metric families (write_*_metrics).
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

namespace zeroseg {

// Writes metric families: HELP and TYPE once, then samples.
class PromWriter {
 public:
  using LabelList = std::initializer_list<std::pair<const char*, std::string>>;
  void family(const std::string& name, const char* type, const char* help);
  void sample(const std::string& name, LabelList labels, double value);
  void sample(const std::string& name, double value) { sample(name, {}, value); }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// A sample value as Prometheus writes it: "+Inf", integers without a point.
std::string prom_number(double v);

}  // namespace zeroseg
