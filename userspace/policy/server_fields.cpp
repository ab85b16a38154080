// SPDX-License-Identifier: Apache-2.0
#include "policy/server_fields.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string_view>

#include "common/error.h"
#include "policy/yaml_reader.h"

namespace zeroseg::reading {
namespace {

// yaml::Tree reads these plain scalars as null: quoted, a string stays one
bool reads_as_null(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

void emit(YAML::Emitter& out, const yaml::Node& n);

// Keys are strings wherever the schema reads them; a mapping or list as a
// key (`? [a]: b`) could only be written back as a long key, which the
// rewritten text must not depend on.
void emit_key(YAML::Emitter& out, const yaml::Node& key) {
  if (!key.IsScalar() && !key.IsNull()) throw YAML::ParserException(key.Mark(), "a key must be a string");
  out << YAML::Key;
  emit(out, key);
}

void emit(YAML::Emitter& out, const yaml::Node& n) {
  switch (n.type()) {
    case yaml::Type::map:
      out << YAML::BeginMap;
      for (const auto& kv : n) {
        emit_key(out, kv.first);
        out << YAML::Value;
        emit(out, kv.second);
      }
      out << YAML::EndMap;
      break;
    case yaml::Type::sequence:
      out << YAML::BeginSeq;
      for (const auto& item : n) emit(out, item);
      out << YAML::EndSeq;
      break;
    case yaml::Type::scalar:
      // (text_of's check below, at this value's place)
      if (n.scalar().find('\x7f') != std::string::npos)
        throw YAML::ParserException(n.Mark(), "a value holds the control character 0x7f (DEL), which this object's "
                                              "text, rewritten, could not carry");
      if (reads_as_null(n.scalar())) out << YAML::DoubleQuoted;
      out << n.scalar();
      break;
    default:
      out << YAML::Null;
  }
}

bool is_last_applied(const yaml::Node& key) { return key.IsScalar() && key.scalar() == kLastAppliedAnnotation; }

// m's entries but those whose key `skip` names
template <class Skip>
void emit_map_except(YAML::Emitter& out, const yaml::Node& m, Skip skip) {
  out << YAML::BeginMap;
  for (const auto& kv : m)
    if (!skip(kv.first)) {
      emit_key(out, kv.first);
      out << YAML::Value;
      emit(out, kv.second);
    }
  out << YAML::EndMap;
}

// annotations without the last-applied one: how many remain
size_t other_annotations(const yaml::Node& a) {
  size_t n = 0;
  for (const auto& kv : a) n += !is_last_applied(kv.first);
  return n;
}

void emit_metadata(YAML::Emitter& out, const yaml::Node& m) {
  out << YAML::BeginMap;
  for (const auto& kv : m) {
    const std::string& key = kv.first.scalar();
    if (is_server_metadata(key)) continue;
    if (key == "annotations" && kv.second.IsMap()) {
      if (!other_annotations(kv.second)) continue;
      out << YAML::Key << key << YAML::Value;
      emit_map_except(out, kv.second, is_last_applied);
      continue;
    }
    emit_key(out, kv.first);
    out << YAML::Value;
    emit(out, kv.second);
  }
  out << YAML::EndMap;
}

// The rewritten text is what the state directory keeps and a restart reads
// again: it must be whole.
// yaml-cpp's emitter escapes control characters below 0x20 only: a DEL
// (0x7f) a value spelled as an escape ("\x7f") is written raw, and the
// reader refuses it (check_characters), so a state directory holding the
// text would stop the next start (attack review 13: a node's workload
// with such an annotation, kept by every other node). Refused here.
std::string text_of(const YAML::Emitter& out, const yaml::Node& doc) {
  if (!out.good())
    throw YAML::ParserException(doc.Mark(), "cannot write this object without its server fields: " +
                                                out.GetLastError());
  try {
    check_characters(out.c_str(), "");
  } catch (const Error& e) {
    std::string why = e.what();
    throw YAML::ParserException(doc.Mark(), "this object cannot be kept as YAML: a value holds a character that "
                                            "YAML cannot carry unescaped (" + why.substr(why.find(": ") + 2) + ")");
  }
  return out.c_str();
}

}  // namespace

bool is_server_metadata(const std::string& key) {
  return std::any_of(kServerMetadata.begin(), kServerMetadata.end(), [&](const char* f) { return key == f; });
}

bool has_server_fields(const yaml::Node& doc) {
  if (!doc.IsMap()) return false;
  if (doc["status"]) return true;
  yaml::Node m = doc["metadata"];
  if (!m.IsMap()) return false;
  for (const auto& kv : m) {
    if (is_server_metadata(kv.first.scalar())) return true;
    if (kv.first.scalar() == "annotations" && kv.second.IsMap() && other_annotations(kv.second) != kv.second.size())
      return true;
  }
  return false;
}

std::string without_server_fields(const yaml::Node& doc) {
  YAML::Emitter out;
  if (!doc.IsMap()) {
    emit(out, doc);
    return text_of(out, doc);
  }
  out << YAML::BeginMap;
  for (const auto& kv : doc) {
    const std::string& key = kv.first.scalar();
    if (key == "status") continue;
    emit_key(out, kv.first);
    out << YAML::Value;
    if (key == "metadata" && kv.second.IsMap()) emit_metadata(out, kv.second);
    else emit(out, kv.second);
  }
  out << YAML::EndMap;
  return text_of(out, doc);
}

std::string without_spec_fields(const yaml::Node& doc, std::initializer_list<const char*> fields) {
  YAML::Emitter out;
  if (!doc.IsMap()) {
    emit(out, doc);
    return text_of(out, doc);
  }
  auto dropped = [&](const yaml::Node& key) {
    return std::any_of(fields.begin(), fields.end(), [&](const char* f) { return key.scalar() == f; });
  };
  out << YAML::BeginMap;
  for (const auto& kv : doc) {
    emit_key(out, kv.first);
    out << YAML::Value;
    if (kv.first.scalar() != "spec" || !kv.second.IsMap()) {
      emit(out, kv.second);
      continue;
    }
    emit_map_except(out, kv.second, dropped);
  }
  out << YAML::EndMap;
  return text_of(out, doc);
}

}  // namespace zeroseg::reading
