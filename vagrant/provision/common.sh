#!/usr/bin/env bash
# Every zeroseg node: packages, a build of the synced tree, the binary and
# the systemd unit installed.
set -euo pipefail
cd /zeroseg
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target zeroseg
install -m 0755 build/userspace/zeroseg /usr/local/bin/zeroseg
install -m 0644 deploy/zeroseg.service /etc/systemd/system/zeroseg.service
install -D -m 0600 deploy/agent.yaml /etc/zeroseg/agent.yaml
sed -i "s/^# node-name:.*//; \$a node-name: $(hostname)" /etc/zeroseg/agent.yaml
systemctl daemon-reload
