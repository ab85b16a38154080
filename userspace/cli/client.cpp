// SPDX-License-Identifier: Apache-2.0
#include "cli/client.h"

#include <algorithm>

#include "api/http.h"
#include "common/error.h"
#include "policy/yaml_reader.h"

namespace zeroseg::cli {

using nlohmann::json;

json request(const GlobalOptions& g, const std::string& method, const std::string& path, const json& body) {
  api::Response r = api::call(g.socket, method, path, body.is_null() ? "" : body.dump());
  json j;
  try {
    j = json::parse(r.body);
  } catch (const json::exception&) {
    throw Error("the agent answered " + std::to_string(r.status) + " with a body that is not JSON");
  }
  if (r.status != 200) throw Error(j.value("error", "the agent answered " + std::to_string(r.status)));
  return j;
}

namespace {

[[noreturn]] void fail_with(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  throw Error(j.is_object() ? j.value("error", body) : body);
}

// Splits chunks into lines, each to `each` until it returns false.
class LineSplitter {
 public:
  explicit LineSplitter(const std::function<bool(const json&)>& each) : each_(each) {}
  bool feed(std::string_view chunk) {
    partial_.append(chunk);
    size_t at = 0, nl;
    while (going_ && (nl = partial_.find('\n', at)) != std::string::npos) {
      if (nl > at) going_ = each_(json::parse(partial_.substr(at, nl - at)));
      at = nl + 1;
    }
    partial_.erase(0, at);
    return going_;
  }

 private:
  const std::function<bool(const json&)>& each_;
  std::string partial_;
  bool going_ = true;
};

}  // namespace

void read_json_lines(const std::string& socket, const std::string& path, bool follow,
                     const std::function<void(const json&)>& each) {
  std::function<bool(const json&)> always = [&](const json& j) {
    each(j);
    return true;
  };
  if (follow) return follow_json_lines(socket, path, always);
  api::Response r = api::call(socket, "GET", path);
  if (r.status != 200) fail_with(r.body);
  LineSplitter(always).feed(r.body);
}

void follow_json_lines(const std::string& socket, const std::string& path,
                       const std::function<bool(const json&)>& each) {
  LineSplitter lines(each);
  std::string error_body;
  int status = api::call_stream(socket, path, [&](std::string_view chunk) { return lines.feed(chunk); }, error_body);
  if (status != 200) fail_with(error_body);
}

json read_documents(const std::vector<std::string>& paths) {
  if (std::count(paths.begin(), paths.end(), "-") > 1) throw Error("-f -: standard input can be read only once");
  json docs = json::array();
  for (const auto& path : paths)
    for (const auto& [name, text] : read_yaml_files(path)) {
      // here, with the file's name and place: the JSON request cannot hold
      // invalid UTF-8 (dump() throws, naming neither), nor the agent's
      // YAML reader a NUL
      check_characters(text, name);
      docs.push_back({{"name", name}, {"content", text}});
    }
  return docs;
}

}  // namespace zeroseg::cli
