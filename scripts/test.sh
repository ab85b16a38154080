#!/usr/bin/env bash
# Sets up and runs every test: installs the Debian packages, builds from
# scratch into build/, runs ctest. Privileged tests need root; with
# ZEROSEG_REQUIRE_PRIVILEGED=1 (as CI sets it) a skipped one fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
  # the VM lab's packages too (libvirt, qemu, vagrant): vagrant.lab runs here
  ZEROSEG_VAGRANT=${ZEROSEG_VAGRANT:-1} bash scripts/install-deps.sh
else
  echo "test.sh: not root: skipping package installation; privileged tests will skip" >&2
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure --timeout 900 "$@"
