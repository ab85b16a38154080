// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace zeroseg::cli {

// Columns aligned to their widest cell, two spaces apart, headers in caps.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  // paint: a cell's colour (colour.h), or nullptr; applied after padding
  using Painter = std::function<const char*(size_t column, const std::string& cell)>;
  void print(std::ostream& out, bool headers = true, const Painter& paint = nullptr) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace zeroseg::cli
