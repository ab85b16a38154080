// SPDX-License-Identifier: Apache-2.0
// An alert: what a detector concluded about a source, with its evidence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zeroseg {

struct Alert {
  int64_t time_ns = 0;  // Unix ns: the flow record that tipped it
  // Unix ns: when the agent raised it (0: not set). A record can come long
  // after the packet it stamps (a flow's end: its last packet), so time to
  // detect is measured by this one.
  int64_t raised_ns = 0;
  std::string detector; // port-scan, host-sweep, ... (detectors.h)
  std::string severity; // low, medium, high
  uint32_t source_identity = 0;
  std::string source_name;  // "prod/web", a CIDR or "world"
  std::string source_ip;
  std::string source_labels_json;  // {"tier":"web",...}
  std::vector<std::string> targets;  // "prod/db:5432", "prod/app"
  std::vector<std::string> mitre;    // ATT&CK technique ids
  std::string summary;
  std::vector<std::string> evidence;  // the flows behind it, one line each
  // What it is about beyond its source ("" = the source alone): alerts of
  // one detector, source and `about` are duplicates (suppressed).
  std::string about;
  // What would settle it, for alerts about misconfiguration (blocked-dependency):
  // the SegmentPolicy YAML that allows the traffic, or the rule in the way.
  std::string suggestion;
  // Whether the source is the culprit, so auto-quarantine may take it: not
  // for a full ingress share, whose source is whichever peer came next.
  bool source_is_culprit = true;
  // What the agent did about it ("quarantine 10.77.6.2 for 1h"), if anything.
  std::vector<std::string> actions;
};

// One JSON line (with '\n'):
//   {"time":"...","raised":"...","detector":"port-scan","severity":"medium",
//    "source":{"identity":256,"name":"prod/web","ip":"10.77.1.2","labels":{...}},
//    "targets":[...],"mitre":["T1046"],"summary":"...","evidence":[...],
//    "suggestion":"...","actions":[...]}   (raised, suggestion and actions only when there are some)
std::string alert_json(const Alert& a);

}  // namespace zeroseg
