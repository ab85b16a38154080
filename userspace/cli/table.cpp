// SPDX-License-Identifier: Apache-2.0
#include "cli/table.h"

#include <algorithm>

#include "cli/colour.h"

namespace zeroseg::cli {

void Table::print(std::ostream& out, bool headers, const Painter& paint) const {
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); i++) width[i] = headers_[i].size();
  for (const auto& row : rows_)
    for (size_t i = 0; i < row.size() && i < width.size(); i++) width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells, bool painted) {
    std::string s;
    for (size_t i = 0; i < cells.size() && i < width.size(); i++) {
      s += painted ? cli::paint(cells[i], paint(i, cells[i]), true) : cells[i];
      if (i + 1 < cells.size()) s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    out << s << '\n';
  };
  std::vector<std::string> caps = headers_;
  for (auto& h : caps) std::transform(h.begin(), h.end(), h.begin(), ::toupper);
  if (headers) line(caps, false);
  for (const auto& row : rows_) line(row, paint != nullptr);
}

}  // namespace zeroseg::cli
