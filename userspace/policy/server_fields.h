// SPDX-License-Identifier: Apache-2.0
// Objects as `kubectl get -o yaml` prints them carry what the API server
// wrote into them: metadata (uid, resourceVersion, generation,
// creationTimestamp, managedFields, selfLink), the last-applied annotation
// and status. Operators pipe those back into `zeroseg apply -f -`; the
// reader accepts and ignores exactly these, and still refuses any other
// unknown field. An object that holds them is stored without them (what
// `policy get` shows and the state directory keeps).
#pragma once

#include <initializer_list>
#include <string>

#include "policy/yaml_tree.h"

namespace zeroseg::reading {

inline constexpr std::initializer_list<const char*> kServerMetadata = {
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"};
inline constexpr const char* kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

bool is_server_metadata(const std::string& key);

// Whether doc (one object) holds any field above.
bool has_server_fields(const yaml::Node& doc);

// doc as YAML without them (comments and the original quoting are lost:
// only documents that hold them, and the items of a List, are rewritten).
std::string without_server_fields(const yaml::Node& doc);

// doc as YAML without the named keys of its spec: another node's workload
// kept here without the interface and attachment that are only its own
// node's (the state directory keeps the text, and a restart must not read
// that workload back as one of this node's).
std::string without_spec_fields(const yaml::Node& doc, std::initializer_list<const char*> fields);

}  // namespace zeroseg::reading
