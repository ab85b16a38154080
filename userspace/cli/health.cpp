// SPDX-License-Identifier: Apache-2.0
#include "cli/health.h"

namespace zeroseg::cli {

using nlohmann::json;

std::vector<std::string> agent_problems(const json& agent) {
  std::vector<std::string> out;
  if (!agent.is_object()) return out;
  if (auto at = agent.find("attachments"); at != agent.end() && at->is_object())
    for (const auto& p : at->value("not_enforced", json::array())) {
      std::string w = p.value("workload", "");
      out.push_back("not enforced on " + p.value("interface", "") + (w.empty() ? "" : " (" + w + ")") + ": " +
                    p.value("error", ""));
    }
  if (auto t = agent.find("telemetry"); t != agent.end() && t->is_object()) {
    // counted since the datapath was loaded: a loss stays visible until then
    uint64_t lost = t->value("events_lost", uint64_t{0});
    if (lost)
      out.push_back(std::to_string(lost) + " events lost (the kernel's ring buffer was full: flows missing from "
                    "the logs and the detectors)");
  }
  if (auto c = agent.find("cluster"); c != agent.end() && c->is_object() && !c->value("connected", true)) {
    // empty until the watcher's first try, which waits for the node's lease
    std::string why = c->value("error", std::string());
    if (c->value("refused", false))
      out.push_back("cluster store refuses this node: " + why + " (enforcement unchanged; changes not followed)");
    else
      out.push_back("cluster store unreachable: " + (why.empty() ? std::string("no answer yet") : why) +
                    " (enforcement unchanged; applies fail)");
  }
  return out;
}

}  // namespace zeroseg::cli
