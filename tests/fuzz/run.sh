#!/usr/bin/env bash
# Builds a fuzz target with clang (libFuzzer + ASan + UBSan) and runs it
# from a fixed seed on a corpus: for yaml_loader (the YAML reader and
# compiler) seeded from policies/, for route_input (the API routes' parsing
# of queries and bodies) from tests/fuzz/route_input_corpus/, whose inputs
# include the regressions found. BUDGET is a number of runs, or seconds
# with an s (e.g. 45s). Close to repeatable, not exactly: libFuzzer's
# scheduling also depends on timing, so a rare bug may show in one run and
# not the next.
#   run.sh BUILD_DIR [BUDGET] [SEED] [TARGET]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(cd "$1" && pwd)/fuzz
budget=${2:-100000}
seed=${3:-1}
target=${4:-yaml_loader}
u=$root/userspace
# the policy part and the parts it may use (docs/ARCHITECTURE.md), whole
srcs=()
for part in abi common net identity policy; do srcs+=("$u/$part"/*.cpp); done
case $target in
  # the examples, and a List as kubectl prints it (the rewritten documents)
  yaml_loader) seeds=("$root"/policies/*.yaml "$root"/tests/cli/kubectl_list.yaml) ;;
  # the routes' input (agent) and the flow filter (telemetry): pure files
  # of parts that otherwise need the kernel's libraries
  route_input) srcs+=("$u/agent/route_input.cpp" "$u/telemetry/flow_filter.cpp")
               seeds=("$here"/route_input_corpus/*) ;;
  *) echo "no fuzz target $target" >&2; exit 2 ;;
esac
bin=$out/${target}_fuzz corpus=$out/${target}_corpus
mkdir -p "$out"
# rebuilt when any source it compiles (or any header) is newer than it
if [ ! -x "$bin" ] ||
   [ -n "$(find "$here" "$u" "$root/include" \( -name '*.cpp' -o -name '*.h' \) -newer "$bin" | head -1)" ]; then
  echo "building the fuzz target $target ..."
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$u" -I"$root/include" "$here/${target}_fuzz.cpp" "${srcs[@]}" -lyaml-cpp -lz -o "$bin"
fi
rm -rf "$corpus" && mkdir -p "$corpus"
cp "${seeds[@]}" "$corpus/"
if [[ $budget == *s ]]; then limit=(-max_total_time="${budget%s}"); else limit=(-runs="$budget"); fi
cd "$out"
# -rss_limit_mb: unbounded memory is a failure; -timeout: so is a hang
# no leak check: LSan stops the world with ptrace, which hung here when a
# report was due; memory growth is still caught by -rss_limit_mb
export ASAN_OPTIONS=detect_leaks=0
"$bin" "${limit[@]}" -seed="$seed" -rss_limit_mb=1024 -timeout=10 -max_len=8192 \
  -print_final_stats=1 "$corpus" >"$target.log" 2>&1 && rc=0 || rc=$?
grep -v "NEW\|REDUCE\|pulse" "$target.log" | tail -20
exit $rc
