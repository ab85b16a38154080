// SPDX-License-Identifier: Apache-2.0
#include "policy/yaml_reader.h"

#include <yaml-cpp/exceptions.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <unordered_map>
#include <sstream>

#include "policy/document_reader.h"
#include "policy/server_fields.h"

namespace zeroseg {
namespace reading {

ObjectMeta meta(const Reader& r, const yaml::Node& doc, const std::string& kind, bool namespaced) {
  yaml::Node m = doc["metadata"];
  if (!m) r.fail(doc, kind + " needs metadata");
  // and what an API server writes (server_fields.h): read, ignored
  r.map(m, kind + ".metadata",
        {"name", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation", "creationTimestamp",
         "managedFields", "selfLink"});
  ObjectMeta out;
  out.name = r.required_str(m, "name", kind + ".metadata");
  if (auto e = label_value_error(out.name); !e.empty() || out.name.empty())
    r.fail(m["name"], kind + ".metadata.name \"" + out.name + "\" is not a valid name");
  if (yaml::Node ns = m["namespace"]) {
    if (!namespaced) r.fail(ns, kind + " is not namespaced");
    out.ns = r.str(ns, kind + ".metadata.namespace");
    if (auto e = label_value_error(out.ns); !e.empty() || out.ns.empty())
      r.fail(ns, kind + ".metadata.namespace \"" + out.ns + "\" is not a valid name");
  }
  if (!namespaced) out.ns = "";
  out.labels = r.labels(m["labels"], kind + ".metadata.labels");
  out.source = r.source(doc);
  out.document = r.document();
  return out;
}

}  // namespace reading

namespace {

using namespace reading;

// Why a cannot be a workload's address, or null. Link-local IPv6 sources
// pass the source check from any workload (on-link only), so no workload
// may own one: the ipcache would judge them as that workload.
const char* not_a_workload_address(const IpAddr& a) {
  const auto& b = a.bytes;
  if (a.family == 4) {
    if (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0) return "unspecified";
    if (b[0] >= 224 && b[0] <= 239) return "multicast";
    return nullptr;
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local (fe80::/10: any workload may send from it)";
  if (b[0] == 0xff) return "multicast";
  if (std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; })) return "unspecified";
  return nullptr;
}

Workload workload(const Reader& r, const yaml::Node& doc) {
  Workload w;
  w.meta = meta(r, doc, "Workload", true);
  yaml::Node spec = doc["spec"];
  if (!spec) r.fail(doc, "Workload needs spec");
  r.map(spec, "Workload.spec", {"interface", "ips", "ports", "attach", "allowedSourcePrefixes"});
  if (yaml::Node i = spec["interface"]) {
    w.interface = r.str(i, "Workload.spec.interface");
    if (w.interface.empty() || w.interface.size() > 15 || w.interface.find('/') != std::string::npos)
      r.fail(i, "Workload.spec.interface \"" + w.interface + "\" is not an interface name");
  }
  if (yaml::Node ips = spec["ips"]) {
    for (const auto& ip : r.seq(ips, "Workload.spec.ips")) {
      std::string s = r.str(ip, "Workload.spec.ips[]");
      auto a = IpAddr::parse(s);
      if (!a) r.fail(ip, "Workload.spec.ips: \"" + s + "\" is not an IP address");
      if (const char* why = not_a_workload_address(*a)) r.fail(ip, "Workload.spec.ips: \"" + s + "\" is " + why);
      w.ips.push_back(*a);
    }
  }
  if (yaml::Node prefixes = spec["allowedSourcePrefixes"]) {
    for (const auto& p : r.seq(prefixes, "Workload.spec.allowedSourcePrefixes"))
      w.allowed_source_prefixes.push_back(r.prefix(p, "Workload.spec.allowedSourcePrefixes[]"));
  }
  if (yaml::Node ports = spec["ports"]) {
    std::set<std::string> names;
    for (const auto& p : r.seq(ports, "Workload.spec.ports")) {
      r.map(p, "Workload.spec.ports[]", {"name", "port", "protocol"});
      NamedPort np;
      np.name = r.required_str(p, "name", "Workload.spec.ports[]");
      if (!names.insert(np.name).second) r.fail(p["name"], "Workload.spec.ports: duplicate name \"" + np.name + "\"");
      if (!p["port"]) r.fail(p, "Workload.spec.ports[] needs \"port\"");
      np.port = static_cast<uint16_t>(r.integer(p["port"], "Workload.spec.ports[].port", 1, 65535));
      if (p["protocol"]) np.proto = r.protocol(p["protocol"], "Workload.spec.ports[].protocol");
      w.ports.push_back(np);
    }
  }
  if (yaml::Node a = spec["attach"]) {
    std::string s = r.str(a, "Workload.spec.attach");
    if (s == "host") w.attach = ZS_ATTACH_HOST;
    else if (s != "workload") r.fail(a, "Workload.spec.attach must be workload or host, not \"" + s + "\"");
  }
  if (w.attach == ZS_ATTACH_HOST && w.interface.empty())
    r.fail(spec, "Workload.spec: attach: host needs an interface");
  return w;
}

Namespace namespace_obj(const Reader& r, const yaml::Node& doc) {
  Namespace n;
  n.meta = meta(r, doc, "Namespace", false);
  if (doc["spec"]) r.map(doc["spec"], "Namespace.spec", {"finalizers"});  // the server's: ignored
  n.meta.labels[kNamespaceNameLabel] = n.meta.name;
  return n;
}

void load_object(const Reader& r, const yaml::Node& doc, ObjectSet& out, const std::string& api,
                 const std::string& kind) {
  // status: what an API server writes (server_fields.h), ignored
  auto top = [&](std::initializer_list<const char*> f) { r.map(doc, kind, f); };
  if (kind == "Workload" && api == "zeroseg.io/v1") {
    top({"apiVersion", "kind", "metadata", "spec", "status"});
    out.workloads.push_back(workload(r, doc));
  } else if (kind == "Namespace" && api == "v1") {
    top({"apiVersion", "kind", "metadata", "spec", "status"});
    out.namespaces.push_back(namespace_obj(r, doc));
  } else if (kind == "NetworkPolicy" && api == "networking.k8s.io/v1") {
    top({"apiVersion", "kind", "metadata", "spec", "status"});
    out.policies.push_back(network_policy(r, doc));
  } else if (kind == "SegmentPolicy" && api == "zeroseg.io/v1") {
    top({"apiVersion", "kind", "metadata", "spec", "status"});
    out.policies.push_back(segment_policy(r, doc));
  } else {
    r.fail(doc["kind"], "unknown kind \"" + kind + "\" in apiVersion \"" + api +
                            "\" (known: zeroseg.io/v1 Workload, SegmentPolicy; v1 Namespace; "
                            "networking.k8s.io/v1 NetworkPolicy; v1 List of them)");
  }
}

// One document: an object, or a List of them (`kubectl get -o yaml` of
// several), whose items load with the rest of the load (all or none).
// An object that holds what an API server writes, and every item of a
// List, is read from its text without those fields: that text is what the
// object stores.
void load_document(const Reader& r, const yaml::Node& doc, ObjectSet& out, bool in_list = false) {
  if (doc.IsNull() && !in_list) return;  // an empty document ("---" at the end)
  if (!doc.IsMap())
    r.fail(doc, in_list ? "List.items[] must be a mapping with apiVersion and kind"
                        : "a document must be a mapping with apiVersion and kind");
  std::string api = r.required_str(doc, "apiVersion", in_list ? "List.items[]" : "the document");
  std::string kind = r.required_str(doc, "kind", in_list ? "List.items[]" : "the document");
  if (kind == "List" && api == "v1") {
    if (in_list) r.fail(doc["kind"], "a List inside a List");
    r.map(doc, "List", {"apiVersion", "kind", "metadata", "items"});
    if (yaml::Node m = doc["metadata"]; m && !m.IsNull()) r.map(m, "List.metadata", {"resourceVersion", "selfLink"});
    if (yaml::Node items = doc["items"]; items && !items.IsNull())
      for (const auto& item : r.seq(items, "List.items")) load_document(r, item, out, true);
    return;
  }
  if (!in_list && !has_server_fields(doc)) return load_object(r, doc, out, api, kind);
  std::string text = without_server_fields(doc);
  load_object(r.with_text(text), doc, out, api, kind);
}

}  // namespace

// YAML allows no control characters but tab and line breaks, and must be
// UTF-8 here; yaml-cpp 0.7 spins forever on some inputs holding NUL or
// invalid UTF-8 (both found by our fuzzer): refuse them before it sees them.
void check_characters(std::string_view text, const std::string& filename) {
  int line = 1, column = 1;
  auto fail = [&](const std::string& what) {
    throw Error(filename + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what);
  };
  for (size_t i = 0; i < text.size(); i++) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02x", c);
      fail(std::string("control character ") + hex + " is not allowed in YAML");
    }
    if (c >= 0x80) {
      // a UTF-8 sequence: lead byte, then 1..3 continuation bytes
      size_t extra = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xc2 && c <= 0xdf ? 1 : 0;
      if (!extra) fail("invalid UTF-8");
      for (size_t k = 1; k <= extra; k++)
        if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) fail("invalid UTF-8");
      i += extra;
    }
    if (c == '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
}

// The documents of a stream, split at "---" lines, each with the line it
// starts on. We split instead of yaml-cpp's LoadAll, which some inputs send
// into producing documents without end (found by our fuzzer): this way the
// work is bounded by the number of lines.
std::vector<std::pair<int, std::string>> split_documents(std::string_view text) {
  std::vector<std::pair<int, std::string>> docs(1, {0, ""});
  int line = 0;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    std::string_view l = text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at + 1);
    bool marker = l.rfind("---", 0) == 0 && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r');
    if (marker && line > 0) docs.emplace_back(line, "");
    docs.back().second += l;
    line++;
    at = end == std::string_view::npos ? text.size() : end + 1;
  }
  return docs;
}

ObjectSet load_yaml(std::string_view text, const std::string& filename) {
  check_characters(text, filename);
  ObjectSet out;
  Interned interned;
  for (const auto& doc_at : split_documents(text)) {
    const int first_line = doc_at.first;  // not a structured binding: lambdas capture it (clang 14)
    const std::string& doc_text = doc_at.second;
    Reader r(filename, first_line, doc_text, interned);
    auto where = [&](const YAML::Mark& m) {
      return filename + ":" + std::to_string(m.line + first_line + 1) + ":" + std::to_string(m.column + 1) + ": ";
    };
    yaml::Tree tree;
    try {
      tree = yaml::Tree::parse(doc_text);  // refuses aliases, deep nesting and huge documents
    } catch (const YAML::Exception& e) {
      throw Error(where(e.mark) + e.msg);
    }
    try {
      load_document(r, tree.root(), out);
    } catch (const YAML::Exception& e) {
      throw Error(where(e.mark) + e.msg);
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> read_yaml_files(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec))
      if (e.is_regular_file() && (e.path().extension() == ".yaml" || e.path().extension() == ".yml"))
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error(path + ": no .yaml or .yml files in this directory");
  } else if (path == "-") {  // kubectl's stdin
    std::stringstream ss;
    ss << std::cin.rdbuf();
    if (std::cin.bad()) throw Error(std::string(kStdinName) + ": cannot read: " + std::strerror(errno));
    return {{kStdinName, ss.str()}};
  } else {
    files.push_back(path);
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) throw Error(f.string() + ": cannot read: " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    out.emplace_back(f.string(), ss.str());
  }
  return out;
}

ObjectSet load_path(const std::string& path) {
  ObjectSet all;
  for (const auto& [name, text] : read_yaml_files(path)) {
    all.append(load_yaml(text, name));
  }
  return all;
}

}  // namespace zeroseg
