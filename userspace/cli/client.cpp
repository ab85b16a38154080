// SPDX-License-Identifier: Apache-2.0
#include "cli/client.h"


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

void read_json_lines(const std::string& socket, const std::string& path, bool follow,
                     const std::function<void(const json&)>& each) {
  auto fail = [](const std::string& body) {
    auto j = json::parse(body, nullptr, false);
    throw Error(j.is_object() ? j.value("error", body) : body);
  };
  std::string partial;
  auto lines = [&](std::string_view chunk) {
    partial.append(chunk);
    size_t at = 0, nl;
    while ((nl = partial.find('\n', at)) != std::string::npos) {
      if (nl > at) each(json::parse(partial.substr(at, nl - at)));
      at = nl + 1;
    }
    partial.erase(0, at);
  };
  if (!follow) {
    api::Response r = api::call(socket, "GET", path);
    if (r.status != 200) fail(r.body);
    lines(r.body);
    return;
  }
  std::string error_body;
  int status = api::call_stream(socket, path, [&](std::string_view chunk) {
    lines(chunk);
    return true;
  }, error_body);
  if (status != 200) fail(error_body);
}

json read_documents(const std::vector<std::string>& paths) {
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
