#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""lint.service_unit: deploy/zeroseg.service against what the agent needs.

  1. Type=notify, ordered Before= and Wants= network-pre.target; with
     DefaultDependencies=no, after local-fs.target and stopped before
     shutdown.target (what the defaults would have given);
  2. the hardening is there (CapabilityBoundingSet, NoNewPrivileges,
     ProtectSystem=strict, ...), no ambient capabilities;
  3. every path the installed settings (deploy/agent.yaml, the file that
     ExecStart's --config names) make the agent write is writable in the
     sandbox: the pin dir under ReadWritePaths=, the socket under
     RuntimeDirectory=, the state under StateDirectory=, the logs under
     LogsDirectory=;
  4. `systemd-analyze verify` accepts it (ExecStart pointed at the built
     binary), and `systemd-analyze security --offline` rates its exposure
     at most MAX_EXPOSURE, when systemd-analyze is installed.

  service_unit.py [--self-test] [--binary ZEROSEG] SOURCE_DIR

--self-test first breaks copies of the unit in each way and checks that
each break is named.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

MAX_EXPOSURE = 5.0  # "OK" on systemd's scale; the unit without hardening rated 9.6


WIDE_CAPS = ["CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SETUID",
             "CAP_SETGID", "CAP_CHOWN", "CAP_FOWNER", "CAP_NET_RAW", "CAP_SYS_BOOT", "CAP_SYS_TIME", "CAP_MKNOD"]


def parse_unit(text):
    """Sections to key -> list of values (keys repeat in units)."""
    unit, section = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def words(unit, section, key):
    return [w for v in unit.get(section, {}).get(key, []) for w in v.split()]


def one(unit, section, key):
    v = unit.get(section, {}).get(key, [])
    return v[-1] if v else None


def settings(path):
    """The keys deploy/agent.yaml sets (flat key: value, comments ignored)."""
    out = {}
    for line in open(path):
        m = re.match(r"^([a-z0-9-]+):\s*(\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def under(path, dirs):
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def check(unit_path, config_path, binary):
    problems = []
    unit = parse_unit(open(unit_path).read())
    u, s = "Unit", "Service"
    if one(unit, s, "Type") != "notify":
        problems.append("Type= is not notify: systemd would not wait for the agent to enforce")
    for key in ("Before", "Wants"):
        if "network-pre.target" not in words(unit, u, key):
            problems.append(f"{key}=network-pre.target missing: uplinks unprotected while the network comes up")
    if one(unit, u, "DefaultDependencies") == "no":
        if "local-fs.target" not in words(unit, u, "After"):
            problems.append("DefaultDependencies=no without After=local-fs.target: the state directory may not be mounted")
        if "shutdown.target" not in words(unit, u, "Before") or "shutdown.target" not in words(unit, u, "Conflicts"):
            problems.append("DefaultDependencies=no without Before= and Conflicts=shutdown.target")
    want = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
            "RestrictSUIDSGID": "yes", "ProtectKernelModules": "yes"}
    for key, value in want.items():
        if one(unit, s, key) != value:
            problems.append(f"{key}={value} missing (hardening)")
    caps = words(unit, s, "CapabilityBoundingSet")
    if not caps or any(c.startswith("~") for c in caps) or not all(c.startswith("CAP_") for c in caps):
        problems.append("CapabilityBoundingSet= is not an allow-list of capabilities")
    if words(unit, s, "AmbientCapabilities"):
        problems.append("AmbientCapabilities= hands capabilities on")
    families = words(unit, s, "RestrictAddressFamilies")
    if not families or not {"AF_UNIX", "AF_NETLINK"} <= set(families):
        problems.append("RestrictAddressFamilies= missing, or without AF_UNIX and AF_NETLINK (API socket, tc/XDP)")
    exec_start = one(unit, s, "ExecStart") or ""
    m = re.search(r"--config\s+(\S+)", exec_start)
    if not exec_start.split() or not exec_start.split()[0].startswith("/") or " agent" not in exec_start or not m:
        problems.append(f"ExecStart= is not '/PATH/zeroseg agent --config FILE': {exec_start}")
    elif m.group(1) != "/etc/zeroseg/agent.yaml":
        problems.append(f"ExecStart= reads {m.group(1)}, the packages install /etc/zeroseg/agent.yaml")
    # what the settings make the agent write, against what the sandbox lets it
    conf = settings(config_path)
    writable = {
        "bpf-pin-dir": words(unit, s, "ReadWritePaths"),
        "socket": ["/run/" + d for d in words(unit, s, "RuntimeDirectory")],
        "state-dir": ["/var/lib/" + d for d in words(unit, s, "StateDirectory")],
        "flow-log": ["/var/log/" + d for d in words(unit, s, "LogsDirectory")],
        "alert-log": ["/var/log/" + d for d in words(unit, s, "LogsDirectory")],
    }
    for key, dirs in writable.items():
        if key in conf and not under(conf[key], dirs):
            problems.append(f"{os.path.basename(config_path)}: {key} {conf[key]} is not writable under the sandbox "
                            f"(ProtectSystem=strict; writable: {' '.join(dirs) or 'nothing'})")
    analyze = shutil.which("systemd-analyze")
    if analyze and binary and not problems:
        with tempfile.TemporaryDirectory(prefix="zs-unit-") as d:
            copy = os.path.join(d, "zeroseg.service")
            text = open(unit_path).read()
            text = re.sub(r"^ExecStart=\S+", "ExecStart=" + os.path.realpath(binary), text, flags=re.M)
            open(copy, "w").write(text)
            r = subprocess.run([analyze, "verify", "--man=no", copy], capture_output=True, text=True)
            if r.returncode != 0 or r.stderr.strip():
                problems.append(f"systemd-analyze verify: {(r.stderr or r.stdout).strip()}")
            r = subprocess.run([analyze, "security", "--offline=true", "--no-pager", copy],
                               capture_output=True, text=True)
            m = re.search(r"exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
            if not m:
                problems.append(f"systemd-analyze security gave no exposure: {r.stdout[-300:]}{r.stderr[-300:]}")
            elif float(m.group(1)) > MAX_EXPOSURE:
                problems.append(f"systemd-analyze security: exposure {m.group(1)} > {MAX_EXPOSURE}")
            else:
                print(f"systemd-analyze security --offline: exposure {m.group(1)}")
    elif not analyze:
        print("note: systemd-analyze not installed: verify and security skipped")
    return problems


def self_test(root, binary):
    unit = open(os.path.join(root, "deploy", "zeroseg.service")).read()
    config = open(os.path.join(root, "deploy", "agent.yaml")).read()
    breaks = [
        ("Type=simple", unit.replace("Type=notify", "Type=simple"), config, "Type= is not notify"),
        ("no Before=network-pre.target", unit.replace("Before=network-pre.target", ""), config,
         "Before=network-pre.target missing"),
        ("no shutdown ordering", unit.replace("Before=shutdown.target", ""), config, "shutdown.target"),
        ("no NoNewPrivileges", unit.replace("NoNewPrivileges=yes", ""), config, "NoNewPrivileges=yes missing"),
        ("ProtectSystem=full", unit.replace("ProtectSystem=strict", "ProtectSystem=full"), config,
         "ProtectSystem=strict missing"),
        ("ambient capabilities", unit.replace("AmbientCapabilities=", "AmbientCapabilities=CAP_BPF"), config,
         "AmbientCapabilities="),
        ("a state dir the sandbox does not allow", unit, config.replace("state-dir: /var/lib/zeroseg",
                                                                        "state-dir: /srv/zeroseg"), "state-dir /srv/zeroseg"),
        ("pins outside ReadWritePaths", unit.replace("ReadWritePaths=/sys/fs/bpf", ""), config, "bpf-pin-dir"),
        ("a unit systemd refuses", unit.replace("Type=notify", "Type=notify\nTimeoutStartSec=forever"), config,
         "systemd-analyze verify"),
        ("a weak sandbox (what the checks above do not name)",
         re.sub(r"^(ProtectClock|ProtectHostname|ProtectKernelLogs|ProtectControlGroups|ProtectProc|PrivateDevices|"
                r"RestrictNamespaces|RestrictRealtime|UMask)=\S*\n", "", unit, flags=re.M)
         .replace("CapabilityBoundingSet=CAP_BPF", "CapabilityBoundingSet=" + " ".join(WIDE_CAPS) + " CAP_BPF"),
         config, "exposure"),
    ]
    failed = 0
    for what, unit_text, config_text, expect in breaks:
        if what.startswith(("a unit systemd refuses", "a weak sandbox")) and not shutil.which("systemd-analyze"):
            continue
        with tempfile.TemporaryDirectory(prefix="zs-unit-self-") as d:
            up, cp = os.path.join(d, "zeroseg.service"), os.path.join(d, "agent.yaml")
            open(up, "w").write(unit_text)
            open(cp, "w").write(config_text)
            problems = check(up, cp, binary)
        if any(expect in p for p in problems):
            print(f"self-test: {what}: named")
        else:
            print(f"self-test FAILED: {what}: not named (got {problems})")
            failed += 1
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--binary")
    ap.add_argument("root")
    a = ap.parse_args()
    if a.self_test and self_test(a.root, a.binary):
        return 1
    problems = check(os.path.join(a.root, "deploy", "zeroseg.service"), os.path.join(a.root, "deploy", "agent.yaml"),
                     a.binary)
    for p in problems:
        print("lint.service_unit: " + p)
    if not problems:
        print("lint.service_unit: deploy/zeroseg.service ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
