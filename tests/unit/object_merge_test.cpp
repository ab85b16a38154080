// SPDX-License-Identifier: Apache-2.0
#include "policy/object_merge.h"

#include <gtest/gtest.h>

#include "policy/yaml_reader.h"

namespace zeroseg {
namespace {

ObjectSet objects(const std::string& yaml) { return load_yaml(yaml, "test.yaml"); }

std::string workload(const std::string& name, const std::string& ip) {
  return "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: " + name +
         ", namespace: prod, labels: {app: " + name + "}}\nspec: {ips: [" + ip + "]}\n";
}

std::string policy(const std::string& kind, const std::string& name) {
  std::string api = kind == "NetworkPolicy" ? "networking.k8s.io/v1" : "zeroseg.io/v1";
  std::string selector = kind == "NetworkPolicy" ? "podSelector: {}" : "selector: {}, ingress: []";
  return "---\napiVersion: " + api + "\nkind: " + kind + "\nmetadata: {name: " + name +
         ", namespace: prod}\nspec: {" + selector + "}\n";
}

TEST(ObjectMerge, ApplyCreatesConfiguresAndKeepsInTheOrderNamed) {
  ObjectSet state = objects(workload("web", "10.0.0.1") + workload("db", "10.0.0.2"));
  MergeOutcome out;
  merge_objects(state, objects(workload("db", "10.0.0.9") + workload("api", "10.0.0.3") + workload("web", "10.0.0.1")),
                out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], (std::pair<std::string, std::string>{"Workload/prod/db", "configured"}));
  EXPECT_EQ(out[1], (std::pair<std::string, std::string>{"Workload/prod/api", "created"}));
  EXPECT_EQ(out[2], (std::pair<std::string, std::string>{"Workload/prod/web", "unchanged"}));
  ASSERT_EQ(state.workloads.size(), 3u);
  EXPECT_EQ(state.workloads[0].meta.name, "web");  // replaced in place, added at the end
  EXPECT_EQ(state.workloads[1].meta.name, "db");
  EXPECT_NE(state.workloads[1].meta.document.str().find("10.0.0.9"), std::string::npos);
  EXPECT_EQ(state.workloads[2].meta.name, "api");
}

TEST(ObjectMerge, SameNameOfAnotherKindIsAnotherObject) {
  ObjectSet state = objects(policy("SegmentPolicy", "p"));
  MergeOutcome out;
  merge_objects(state, objects(policy("NetworkPolicy", "p")), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, "NetworkPolicy/prod/p");
  EXPECT_EQ(out[0].second, "created");
  EXPECT_EQ(state.policies.size(), 2u);
}

TEST(ObjectMerge, AnObjectNamedTwiceInOneApplyEndsAsItsLastCopy) {
  ObjectSet state;
  MergeOutcome out;
  merge_objects(state, objects(workload("web", "10.0.0.1") + workload("web", "10.0.0.2")), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].second, "created");
  EXPECT_EQ(out[1].second, "configured");
  ASSERT_EQ(state.workloads.size(), 1u);
  EXPECT_NE(state.workloads[0].meta.document.str().find("10.0.0.2"), std::string::npos);
}

TEST(ObjectMerge, DeleteRemovesWhatItNamesAndReportsTheRest) {
  ObjectSet state = objects(workload("web", "10.0.0.1") + workload("db", "10.0.0.2") + workload("api", "10.0.0.3") +
                            policy("SegmentPolicy", "p"));
  MergeOutcome out;
  remove_objects(state,
                 objects(workload("db", "10.0.0.2") + workload("cache", "10.0.0.4") + workload("db", "10.0.0.2") +
                         policy("NetworkPolicy", "p")),
                 out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], (std::pair<std::string, std::string>{"Workload/prod/db", "deleted"}));
  EXPECT_EQ(out[1], (std::pair<std::string, std::string>{"Workload/prod/cache", "not found"}));
  EXPECT_EQ(out[2], (std::pair<std::string, std::string>{"Workload/prod/db", "not found"}));
  EXPECT_EQ(out[3], (std::pair<std::string, std::string>{"NetworkPolicy/prod/p", "not found"}));
  ASSERT_EQ(state.workloads.size(), 2u);
  EXPECT_EQ(state.workloads[0].meta.name, "web");  // the rest keep their order
  EXPECT_EQ(state.workloads[1].meta.name, "api");
  EXPECT_EQ(state.policies.size(), 1u);
}

}  // namespace
}  // namespace zeroseg
