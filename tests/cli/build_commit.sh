#!/usr/bin/env bash
# unit.build_commit: zeroseg_build_info's commit is the one the tree is at
# when the binary is built, not when cmake was configured:
# cmake/build_commit.cmake (run at every build) writes the commit, rewrites
# its file when the commit moved, and leaves it untouched (nothing compiles
# again) when it did not. Usage: build_commit.sh [SOURCE_DIR]
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
script=$src/cmake/build_commit.cmake
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checks=0 failed=0
check() {  # WHAT GOT WANT
  checks=$((checks + 1))
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', wanted '$3'"; failed=$((failed + 1)); fi
}
repo=$work/repo out=$work/build_commit.cpp
git init -q "$repo"
commit() { git -C "$repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m "$1"; git -C "$repo" rev-parse --short=12 HEAD; }
run() { cmake -DSOURCE_DIR="$repo" -DOUT="$out" -P "$script"; }
built_at() { sed -n 's/.*return "\([^"]*\)".*/\1/p' "$out"; }

first=$(commit one)
run
check "the file names the commit at the build" "$(built_at)" "$first"
before=$(stat -c %Y.%N "$out")
sleep 1.1  # a rewrite would show in the modification time
run
check "a build at the same commit leaves it untouched (nothing compiles again)" "$(stat -c %Y.%N "$out")" "$before"
second=$(commit two)
run
check "a commit after the first build (no configure between) is the next build's" "$(built_at)" "$second"
rm -rf "$repo/.git"
run
check "outside a git checkout it says unknown" "$(built_at)" unknown
# the build runs it: the agent compiles the file it writes
check "the agent's build takes the commit from the script's file" \
  "$(grep -c -- '-P ${PROJECT_SOURCE_DIR}/cmake/build_commit.cmake' "$src/userspace/CMakeLists.txt")" 1
echo "$checks checks, $failed failed"
[ "$checks" -gt 0 ] && [ "$failed" = 0 ]
