// SPDX-License-Identifier: Apache-2.0
#include "api/request_checks.h"

namespace zeroseg::api {

// The body of an error httplib answers by itself (its handler never ran).
std::string transport_error(int status) {
  switch (status) {
    case 400: return "malformed request";
    case 404: return "no such route";
    case 413: return "request body too large";
    case 414: return "request line too long";
    case 415: return "the body must not be compressed (Content-Encoding)";
    default: return "request refused (HTTP " + std::to_string(status) + ")";
  }
}

// httplib reads a Content-Length with strtoull, so "abc" is 0 and "-1" is
// 2^64-1, and it takes the first of two; such a request is refused before
// its body is read, as is a length no body may have.
std::optional<int> bad_length(const httplib::Request& in, size_t max_body) {
  size_t lengths = in.get_header_value_count("Content-Length");
  if (lengths == 0) return std::nullopt;
  std::string text = in.get_header_value("Content-Length");
  if (lengths > 1 || in.has_header("Transfer-Encoding") || text.empty() || text.size() > 19 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return 400;
  if (std::stoull(text) > max_body) return 413;
  return std::nullopt;
}

// A body httplib reads is framed by one Content-Length (bad_length checks
// it), or by chunks, or (POST, PUT, PATCH, DELETE without either) by the
// client closing.
bool length_framed(const httplib::Request& in) {
  if (in.has_header("Transfer-Encoding")) return false;
  bool reads_body = in.method == "POST" || in.method == "PUT" || in.method == "PATCH" || in.method == "DELETE" ||
                    in.method == "PRI";
  return !reads_body || in.has_header("Content-Length");
}

// httplib inflates a gzip, deflate or br body with no bound but the
// string's max_size (its payload limit counts the bytes on the wire): 841
// bytes of br are 1 GiB. No client of ours compresses a body.
bool compressed(const httplib::Request& in) {
  if (!in.has_header("Content-Encoding")) return false;
  return in.get_header_value_count("Content-Encoding") > 1 || in.get_header_value("Content-Encoding") != "identity";
}

}  // namespace zeroseg::api
