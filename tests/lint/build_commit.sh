#!/usr/bin/env bash
# cmake/build_commit.cmake takes the commit of a checkout whose path holds a
# space or a ';' (a ';' split the unquoted path into two arguments: the
# build stopped with "if given arguments: EXISTS ... Unknown arguments").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bad=0 ran=0
for name in "with space" "with;semicolon"; do
  d="$work/$name"
  mkdir -p "$d" && git -C "$d" init -q &&
    git -C "$d" -c user.email=t@example.org -c user.name=t commit -q --allow-empty -m t || { echo "FAIL: git"; exit 1; }
  want=$(git -C "$d" rev-parse --short=12 HEAD)
  ran=$((ran + 1))
  if cmake -DSOURCE_DIR="$d" -DOUT="$d/out.cpp" -P "$root/cmake/build_commit.cmake" >"$work/log" 2>&1 &&
    grep -q "return \"$want\";" "$d/out.cpp"; then
    echo "ok: '$name': $want"
  else
    echo "FAIL: '$name': wanted $want:"; cat "$work/log" "$d/out.cpp" 2>/dev/null; bad=1
  fi
done
[ $ran -gt 0 ] && [ $bad = 0 ]
