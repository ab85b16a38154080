// SPDX-License-Identifier: Apache-2.0
#include "cli/client.h"


#include "api/http.h"
#include "common/error.h"
#include "policy/loader.h"

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

json read_documents(const std::vector<std::string>& paths) {
  json docs = json::array();
  for (const auto& path : paths)
    for (const auto& [name, text] : read_yaml_files(path)) docs.push_back({{"name", name}, {"content", text}});
  return docs;
}

}  // namespace zeroseg::cli
