#!/usr/bin/env bash
# Builds the YAML loader fuzz target with clang (libFuzzer + ASan + UBSan)
# and runs it for a bounded time on a corpus seeded from policies/.
#   run.sh BUILD_DIR [SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$1/fuzz
seconds=${2:-60}
mkdir -p "$out/corpus"
u=$root/userspace
sources=(common/error.cpp common/time.cpp net/addr.cpp policy/labels.cpp policy/loader.cpp policy/compiler.cpp
         identity/allocator.cpp datapath/names.cpp datapath/port_ranges.cpp)
srcs=()
for s in "${sources[@]}"; do srcs+=("$u/$s"); done
if [ ! -x "$out/yaml_loader_fuzz" ] || [ -n "$(find "$here" "$u/policy" -newer "$out/yaml_loader_fuzz" -name '*.cpp' -o -newer "$out/yaml_loader_fuzz" -name '*.h' | head -1)" ]; then
  echo "building the fuzz target ..."
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$u" -I"$root/include" "$here/yaml_loader_fuzz.cpp" "${srcs[@]}" -lyaml-cpp -o "$out/yaml_loader_fuzz"
fi
cp "$root"/policies/*.yaml "$out/corpus/"
cd "$out"
# -rss_limit_mb: unbounded memory is a failure; -timeout: so is a hang
./yaml_loader_fuzz -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -max_len=8192 \
  -print_final_stats=1 corpus 2>&1 | tail -15
