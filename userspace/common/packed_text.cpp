// SPDX-License-Identifier: Apache-2.0
#include "common/packed_text.h"

#include <zlib.h>

#include <limits>

#include "common/error.h"

namespace zeroseg {
namespace {

// Raw deflate (no header), a 4 KiB window and small tables: ~35 KiB of
// state per call, and YAML repeats itself within a few lines.
constexpr int kWindowBits = -12, kMemLevel = 5;
// Shorter texts (a Workload is ~150 bytes) barely shrink.
constexpr size_t kPackFrom = 256;

}  // namespace

PackedText::PackedText(std::string_view text) : size_(static_cast<uint32_t>(text.size())) {
  if (text.size() > std::numeric_limits<uint32_t>::max()) throw Error("a text over 4 GiB");
  bytes_.assign(text);
  if (text.size() < kPackFrom) return;
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, kWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) != Z_OK) return;  // kept as is
  std::string out(deflateBound(&z, static_cast<uLong>(text.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  size_t n = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END || n >= text.size()) return;
  out.resize(n);
  out.shrink_to_fit();
  bytes_ = std::move(out);
  packed_ = true;
}

std::string PackedText::str() const {
  if (!packed_) return bytes_;
  std::string out(size_, '\0');
  z_stream z{};
  if (inflateInit2(&z, kWindowBits) != Z_OK) throw Error("inflate: out of memory");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes_.data()));
  z.avail_in = static_cast<uInt>(bytes_.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&z, Z_FINISH);
  size_t n = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || n != size_) throw Error("inflate: a packed text is damaged");
  return out;
}

}  // namespace zeroseg
