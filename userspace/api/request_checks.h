// SPDX-License-Identifier: Apache-2.0
// What the transport checks in a request's head before httplib reads its
// body (server.cpp's pre-routing handler), and the words of the errors
// httplib answers by itself.
#pragma once

#include <httplib.h>

#include <optional>
#include <string>

namespace zeroseg::api {

// The body of an error httplib answers by itself (its handler never ran).
std::string transport_error(int status);
// 400 or 413 for a Content-Length httplib would misread, or one no body
// may have; nullopt when there is none or it is fine.
std::optional<int> bad_length(const httplib::Request& in, size_t max_body);
// Whether a body httplib would read is framed by a Content-Length.
bool length_framed(const httplib::Request& in);
// Whether the body is compressed (refused: 415).
bool compressed(const httplib::Request& in);

}  // namespace zeroseg::api
