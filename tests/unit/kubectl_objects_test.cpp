// SPDX-License-Identifier: Apache-2.0
// Objects as `kubectl get -o yaml` prints them (server_fields.h), and
// `kind: List`: accepted as an operator pipes them back, while any other
// unknown field is still refused with its place.
#include <gtest/gtest.h>

#include "policy/yaml_reader.h"

namespace zeroseg {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    load_yaml(yaml, "k.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// `kubectl get netpol,ns -o yaml` as kubectl 1.28 prints it, server fields
// and all (written by hand from its output).
const char* kKubectlList = R"(apiVersion: v1
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    creationTimestamp: "2026-12-01T09:12:44Z"
    labels:
      env: prod
      kubernetes.io/metadata.name: prod
    managedFields:
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:labels:
            .: {}
            f:env: {}
            f:kubernetes.io/metadata.name: {}
      manager: kubectl-create
      operation: Update
      time: "2026-12-01T09:12:44Z"
    name: prod
    resourceVersion: "412"
    uid: 6a1f3c1e-6b7e-4c53-9f0b-2a1c8d0e5f11
  spec:
    finalizers:
    - kubernetes
  status:
    phase: Active
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"annotations":{},"name":"db","namespace":"prod"},"spec":{"podSelector":{"matchLabels":{"app":"db"}}}}
      team: storage
    creationTimestamp: "2026-12-01T09:13:02Z"
    generation: 3
    managedFields:
    - apiVersion: networking.k8s.io/v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:annotations:
            .: {}
            f:kubectl.kubernetes.io/last-applied-configuration: {}
        f:spec:
          f:ingress: {}
          f:podSelector: {}
          f:policyTypes: {}
      manager: kubectl-client-side-apply
      operation: Update
      time: "2026-12-01T09:13:02Z"
    name: db
    namespace: prod
    resourceVersion: "977"
    uid: 0f6c2d8a-31b2-4a8e-8d55-6c9f1e2b7a40
  spec:
    ingress:
    - from:
      - podSelector:
          matchLabels:
            app: api
      ports:
      - port: 5432
        protocol: TCP
    podSelector:
      matchLabels:
        app: db
    policyTypes:
    - Ingress
  status: {}
kind: List
metadata:
  resourceVersion: ""
)";

TEST(KubectlObjects, AListAsKubectlPrintsItLoadsEveryItem) {
  ObjectSet s = load_yaml(kKubectlList, "k.yaml");
  ASSERT_EQ(s.namespaces.size(), 1u);
  ASSERT_EQ(s.policies.size(), 1u);
  EXPECT_EQ(s.namespaces[0].meta.name, "prod");
  EXPECT_EQ(s.namespaces[0].meta.labels.at("env"), "prod");
  const Policy& p = s.policies[0];
  EXPECT_EQ(p.ref(), "NetworkPolicy/prod/db");
  ASSERT_EQ(p.allow_in.size(), 1u);
  // each item is its own object, stored as its own document without what
  // the server wrote
  std::string doc = p.meta.document.str();
  EXPECT_NE(doc.find("name: db"), std::string::npos) << doc;
  EXPECT_NE(doc.find("team: storage"), std::string::npos) << doc;
  for (const char* gone : {"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
                           "last-applied-configuration", "status", "kind: Namespace"})
    EXPECT_EQ(doc.find(gone), std::string::npos) << gone << " in:\n" << doc;
  // and the stored document reads back as the same object
  ObjectSet again = load_yaml(doc, "stored.yaml");
  ASSERT_EQ(again.policies.size(), 1u);
  EXPECT_EQ(again.policies[0].ref(), p.ref());
  EXPECT_EQ(again.policies[0].meta.document.str(), doc);
  std::string ns_doc = s.namespaces[0].meta.document.str();
  EXPECT_EQ(load_yaml(ns_doc, "stored.yaml").namespaces.size(), 1u) << ns_doc;
}

TEST(KubectlObjects, ErrorsInAListItemNameTheirPlaceInTheFile) {
  std::string bad = kKubectlList;
  bad.replace(bad.find("      - port: 5432"), 18, "      - port: 99999");
  EXPECT_EQ(error_of(bad), "k.yaml:65:15: NetworkPolicy.spec.ingress[].ports[].port 99999 is out of range 1..65535");
}

TEST(KubectlObjects, AnUnknownFieldIsStillRefusedBesideTheServerFields) {
  std::string bad = kKubectlList;
  bad.replace(bad.find("    resourceVersion: \"977\""), 0, "    ownerName: me\n");
  EXPECT_EQ(error_of(bad), "k.yaml:56:5: unknown field \"ownerName\" in NetworkPolicy.metadata");
  std::string top = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, uid: x}\nstatuz: {}\n";
  EXPECT_EQ(error_of(top), "k.yaml:4:1: unknown field \"statuz\" in Namespace");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nspec: {finalizer: [k]}\n"),
            "k.yaml:4:8: unknown field \"finalizer\" in Namespace.spec");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: List\nitems: []\nmetadata: {resourceVersion: \"\", name: x}\n"),
            "k.yaml:4:33: unknown field \"name\" in List.metadata");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: List\nitemz: []\n"), "k.yaml:3:1: unknown field \"itemz\" in List");
}

TEST(KubectlObjects, AServerFieldOfOneObjectAloneIsIgnoredAndLeftOutOfItsDocument) {
  ObjectSet s = load_yaml(R"(apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata:
  name: web
  namespace: prod
  uid: 1234
  generation: 2
spec:
  selector: {matchLabels: {app: web}}
  ingress: [{from: [{entity: world}], ports: [{port: 80}]}]
status: {conditions: []}
)", "k.yaml");
  ASSERT_EQ(s.policies.size(), 1u);
  std::string doc = s.policies[0].meta.document.str();
  EXPECT_EQ(doc.find("uid"), std::string::npos) << doc;
  EXPECT_EQ(doc.find("status"), std::string::npos) << doc;
  EXPECT_EQ(load_yaml(doc, "stored.yaml").policies.size(), 1u) << doc;
  // a document without them is stored as written, comments and all
  const char* plain = "apiVersion: v1\nkind: Namespace  # ours\nmetadata: {name: a}";
  EXPECT_EQ(load_yaml(plain, "k.yaml").namespaces[0].meta.document.str(), plain);
}

TEST(KubectlObjects, AListIsOneLoadAllOrNone) {
  EXPECT_EQ(error_of(R"(apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: a}}
- {apiVersion: v1, kind: Namespace, metadata: {name: "b/c"}}
)"),
            "k.yaml:5:54: Namespace.metadata.name \"b/c\" is not a valid name");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n"),
            "k.yaml:4:26: a List inside a List");
  // (an empty item's place is where yaml-cpp's parser found its end)
  EXPECT_EQ(error_of("apiVersion: v1\nkind: List\nitems:\n- \n- {apiVersion: v1}\n"),
            "k.yaml:5:1: List.items[] must be a mapping with apiVersion and kind");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: List\nitems:\n- {kind: Namespace}\n"),
            "k.yaml:4:3: List.items[] needs \"apiVersion\"");
  EXPECT_EQ(load_yaml("apiVersion: v1\nkind: List\nitems: []\n", "k.yaml").size(), 0u);
}

// A label value the text quotes so it stays a string keeps being one when
// the document is rewritten without server fields.
TEST(KubectlObjects, RewrittenScalarsKeepTheirMeaning) {
  ObjectSet s = load_yaml(
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, uid: u, labels: {x: \"null\", y: \"\", z: \"80\"}}\n",
      "k.yaml");
  std::string doc = s.namespaces[0].meta.document.str();
  ObjectSet again = load_yaml(doc, "stored.yaml");
  EXPECT_EQ(again.namespaces[0].meta.labels, s.namespaces[0].meta.labels) << doc;
  EXPECT_EQ(again.namespaces[0].meta.labels.at("x"), "null");
}

// The rewritten text is what a restart reads again: what could not be
// written back whole is refused, with its place, instead of stored torn.
TEST(KubectlObjects, AnObjectThatCannotBeWrittenBackIsRefusedWithItsPlace) {
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  uid: x\n  annotations:\n    ? [k]\n"
                     "    : v\n"),
            "k.yaml:7:7: a key must be a string");
  // without server fields it is stored as written (annotations are not read)
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  annotations:\n    ? [k]\n    : v\n"),
            "(no error)");
}

// A DEL spelled as an escape ("\x7f") is a value yaml-cpp's emitter
// writes raw, which the reader refuses: stored, the rewritten text would
// stop the next start (attack review 13). Refused at the apply instead,
// with its place; the same value of an object kept as written reads back.
TEST(KubectlObjects, AValueTheRewrittenTextCouldNotCarryIsRefused) {
  const std::string err = error_of(
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  uid: x\n  annotations: {n: \"\\x7f\"}\n");
  EXPECT_EQ(err.rfind("k.yaml:6:20: ", 0), 0u) << err;
  EXPECT_NE(err.find("control character 0x7f"), std::string::npos) << err;
  ObjectSet kept = load_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, annotations: {n: \"\\x7f\"}}\n", "k.yaml");
  EXPECT_NO_THROW(load_yaml(kept.namespaces[0].meta.document.str(), "stored.yaml"));
}

}  // namespace
}  // namespace zeroseg
