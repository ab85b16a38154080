#!/usr/bin/env bash
# Builds the YAML reader's fuzz target with clang (libFuzzer + ASan + UBSan)
# and runs it on a corpus seeded from policies/: RUNS inputs from a fixed
# seed. Close to repeatable, not exactly: libFuzzer's scheduling also
# depends on timing, so a rare bug may show in one run and not the next.
#   run.sh BUILD_DIR [RUNS] [SEED]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$1/fuzz
runs=${2:-100000}
seed=${3:-1}
mkdir -p "$out/corpus"
u=$root/userspace
# the policy part and the parts it may use (docs/ARCHITECTURE.md), whole
srcs=()
for part in abi common net identity policy; do srcs+=("$u/$part"/*.cpp); done
# rebuilt when any source it compiles (or any header) is newer than it
if [ ! -x "$out/yaml_loader_fuzz" ] ||
   [ -n "$(find "$here" "$u" "$root/include" \( -name '*.cpp' -o -name '*.h' \) -newer "$out/yaml_loader_fuzz" | head -1)" ]; then
  echo "building the fuzz target ..."
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$u" -I"$root/include" "$here/yaml_loader_fuzz.cpp" "${srcs[@]}" -lyaml-cpp -lz -o "$out/yaml_loader_fuzz"
fi
rm -rf "$out/corpus" && mkdir -p "$out/corpus"
cp "$root"/policies/*.yaml "$out/corpus/"
cd "$out"
# -rss_limit_mb: unbounded memory is a failure; -timeout: so is a hang
# no leak check: LSan stops the world with ptrace, which hung here when a
# report was due; memory growth is still caught by -rss_limit_mb
export ASAN_OPTIONS=detect_leaks=0
./yaml_loader_fuzz -runs="$runs" -seed="$seed" -rss_limit_mb=1024 -timeout=10 -max_len=8192 \
  -print_final_stats=1 corpus >fuzz.log 2>&1 && rc=0 || rc=$?
grep -v "NEW\|REDUCE\|pulse" fuzz.log | tail -20
exit $rc
