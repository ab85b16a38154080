#!/usr/bin/env bash
# Every shell script of the project parses (bash -n) and passes shellcheck
# (following sourced files), and the Vagrantfile passes `vagrant validate`
# (provider options ignored: no hypervisor here).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
status=0
mapfile -t scripts < <(git ls-files '*.sh' .ci/run 2>/dev/null || find . -name '*.sh' -not -path './build/*')
for s in "${scripts[@]}"; do
  bash -n "$s" || { echo "FAIL: bash -n $s"; status=1; }
done
if ! shellcheck -x --source-path=SCRIPTDIR -S warning "${scripts[@]}"; then
  echo "FAIL: shellcheck"
  status=1
fi
if command -v vagrant >/dev/null; then
  (cd vagrant && vagrant validate --ignore-provider) || { echo "FAIL: vagrant validate"; status=1; }
else
  echo "FAIL: vagrant is missing (scripts/install-deps.sh installs it)"
  status=1
fi
[ $status = 0 ] && echo "ok: ${#scripts[@]} scripts, the Vagrantfile"
exit $status
