// SPDX-License-Identifier: Apache-2.0
#include "cli/client.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/http.h"
#include "common/error.h"

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
  namespace fs = std::filesystem;
  json docs = json::array();
  for (const auto& path : paths) {
    std::vector<fs::path> files;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      for (const auto& e : fs::directory_iterator(path, ec))
        if (e.is_regular_file() && (e.path().extension() == ".yaml" || e.path().extension() == ".yml"))
          files.push_back(e.path());
      std::sort(files.begin(), files.end());
      if (files.empty()) throw Error(path + ": no .yaml or .yml files in this directory");
    } else {
      files.push_back(path);
    }
    for (const auto& f : files) {
      std::ifstream in(f);
      if (!in) throw Error(f.string() + ": cannot read: " + std::strerror(errno));
      std::stringstream ss;
      ss << in.rdbuf();
      docs.push_back({{"name", f.string()}, {"content", ss.str()}});
    }
  }
  return docs;
}

}  // namespace zeroseg::cli
