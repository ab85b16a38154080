// SPDX-License-Identifier: Apache-2.0
#include "detect/alert.h"

#include "common/time.h"
#include "telemetry/flow_catalog.h"

namespace zeroseg {

std::string alert_json(const Alert& a) {
  std::string out = "{\"time\":";
  append_json_string(out, format_rfc3339(a.time_ns));
  auto field = [&](const char* key, const std::string& v) {
    out += ",\"";
    out += key;
    out += "\":";
    append_json_string(out, v);
  };
  auto list = [&](const char* key, const std::vector<std::string>& v) {
    out += ",\"";
    out += key;
    out += "\":[";
    for (size_t i = 0; i < v.size(); i++) {
      if (i) out += ',';
      append_json_string(out, v[i]);
    }
    out += ']';
  };
  if (a.raised_ns) field("raised", format_rfc3339(a.raised_ns));
  field("detector", a.detector);
  field("severity", a.severity);
  out += ",\"source\":{\"identity\":" + std::to_string(a.source_identity);
  field("name", a.source_name);
  field("ip", a.source_ip);
  out += ",\"labels\":" + (a.source_labels_json.empty() ? std::string("{}") : a.source_labels_json) + "}";
  list("targets", a.targets);
  list("mitre", a.mitre);
  field("summary", a.summary);
  list("evidence", a.evidence);
  if (!a.suggestion.empty()) field("suggestion", a.suggestion);
  if (!a.actions.empty()) list("actions", a.actions);
  return out + "}\n";
}

}  // namespace zeroseg
