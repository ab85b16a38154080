#!/usr/bin/env bash
# e2e.demo: scripts/demo.sh passes (its verdicts are checked), and its output,
# which is not a terminal here, holds no escape byte (colour only on a
# terminal: scripts/lib/colour.sh; the CLI's own is tests/cli/operator.sh).
set -uo pipefail
demo=${1:?usage: demo_output.sh DEMO_SCRIPT}
out=$(bash "$demo" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || exit "$rc"
if grep -q $'\033' <<<"$out"; then
  echo "FAIL: an escape byte in the demo's output, which is not a terminal:"
  grep -n $'\033' <<<"$out" | head -5 | cat -v
  exit 1
fi
echo "ok: no escape byte in the demo's output"
