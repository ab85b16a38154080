// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: arbitrary bytes through the YAML reader, validator and
// compiler. Anything but a clean zeroseg::Error is a bug: a crash, a hang,
// a sanitizer report, unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "identity/allocator.h"
#include "policy/compiler.h"
#include "policy/yaml_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    zeroseg::ObjectSet s = zeroseg::load_yaml(text, "fuzz.yaml");
    zeroseg::LocalIdentityAllocator ids;
    zeroseg::RuleIdAllocator rules;
    zeroseg::PolicyCompiler(ids, rules).compile(s);
  } catch (const zeroseg::Error&) {
    // a clear rejection is the expected outcome for most inputs
  }
  return 0;
}
