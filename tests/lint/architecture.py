#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""lint.architecture: the parts of zeroseg and the arrows between them.

The build declares each part and the parts it uses (zeroseg_part(... DEPENDS
...) in userspace/CMakeLists.txt); the compiler then refuses an include of a
part not declared. This lint checks what the compiler cannot:

  1. every declared arrow is one the design allows (the parts table of
     docs/ARCHITECTURE.md), and the arrows form no cycle;
  2. every include of a part's header is declared (the same check as the
     compiler's, but named, and also for headers no .cpp of the part uses);
  3. the kernel side (bpf/, include/zeroseg/) includes nothing of user space;
  4. no two headers share a file name (a reader finds a thing by its name);
  5. no source file of user space or the kernel over 500 lines;
  6. with --build-dir: the unit tests of the pure parts link no libbpf.

  architecture.py [--self-test] [--build-dir DIR] SOURCE_DIR

--self-test first breaks a copy of the tree in each way above and checks
that the lint names the break, so the lint cannot pass by checking nothing.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

def design_rules(root):
    """What each part may use: the last column of the parts table of
    docs/ARCHITECTURE.md, so that the page and the lint cannot drift."""
    rules = {}
    for line in open(os.path.join(root, "docs", "ARCHITECTURE.md")):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[a-z]+", cells[0]) and cells[0] != "part":
            uses = cells[3]
            rules[cells[0]] = set() if uses == "nothing" else {u.strip() for u in uses.split(",")}
    return rules


# Why, for the arrows people are most tempted to add.
WHY = {
    ("policy", "loader"): "policy is pure: it compiles, the agent writes the maps",
    ("identity", "loader"): "identity is pure: numbers for label sets",
    ("detect", "loader"): "detect reads flow records, never maps",
    ("telemetry", "loader"): "telemetry reads the kernel through abi/kernel_flows.h",
    ("cli", "loader"): "cli talks to the agent; pinned maps are inspect's",
    ("api", "agent"): "api is transport: the agent registers its routes on it",
    ("loader", "policy"): "the loader writes what it is given, it does not compile",
    ("telemetry", "detect"): "detect reads telemetry's records, not the other way round",
}

MAX_LINES = 500

# Unit test binaries that must not link libbpf (tests/CMakeLists.txt).
PURE_TEST_BINARIES = ["unit_policy_tests", "unit_detect_tests", "unit_telemetry_tests", "unit_common_tests"]

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


class Lint:
    def __init__(self):
        self.errors = []
        self.checks = 0

    def check(self, ok, message):
        self.checks += 1
        if not ok:
            self.errors.append(message)


def declared_parts(root):
    """{part: [deps]} from userspace/CMakeLists.txt's zeroseg_part() calls."""
    text = open(os.path.join(root, "userspace", "CMakeLists.txt")).read()
    text = re.sub(r"#.*", "", text)
    parts = {}
    for m in re.finditer(r"zeroseg_part\(\s*(\w+)(.*?)\)", text, re.S):
        name, body = m.group(1), m.group(2)
        d = re.search(r"DEPENDS(.*?)(?:\bLIBS\b|\bSOURCES\b|$)", body, re.S)
        parts[name] = d.group(1).split() if d else []
    # arrows added outside zeroseg_part() count too
    for m in re.finditer(r"target_link_libraries\(\s*zeroseg_(\w+)([^)]*)\)", text):
        if m.group(1) in parts:
            parts[m.group(1)] += [d for d in re.findall(r"\bzeroseg_(\w+)", m.group(2)) if d != m.group(1)]
    return parts


def source_files(folder):
    for dirpath, _, files in os.walk(folder):
        for f in sorted(files):
            if f.endswith((".h", ".cpp", ".c")):
                yield os.path.join(dirpath, f)


def includes(path):
    return INCLUDE.findall(open(path, errors="replace").read())


def resolve(root, parts, path, kind, target):
    """The file of the tree an include names, as the compiler would find it
    (a quoted include next to its file first), or None (system, generated)."""
    candidates = []
    if kind == '"':
        candidates.append(os.path.join(os.path.dirname(path), target))
    candidates.append(os.path.join(root, "include", target))
    first = target.split("/", 1)[0]
    if first in parts or os.path.isdir(os.path.join(root, "userspace", first)):
        candidates.append(os.path.join(root, "userspace", target))
    for c in candidates:
        c = os.path.normpath(c)
        if os.path.isfile(c):
            return c
    return None


def part_of(root, path):
    """The part a file of the tree belongs to; None outside user space and the ABI."""
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "include":
        return "abi"
    if rel[0] == "userspace" and len(rel) > 2:
        return rel[1]
    return None

def lint_tree(root, build_dir=None):
    lint = Lint()
    parts = declared_parts(root)
    rules = design_rules(root)
    lint.check(len(rules) >= 10, f"docs/ARCHITECTURE.md: its parts table gave {len(rules)} parts")
    for missing in sorted(set(rules) - set(parts)):
        lint.check(False, f"part {missing}: in the design but not declared in userspace/CMakeLists.txt")

    # 1. declared arrows against the rules, and no cycles
    for part, deps in parts.items():
        lint.check(part in rules, f"part {part}: not in the design (add it to the table of docs/ARCHITECTURE.md)")
        for d in deps:
            lint.check(d in parts, f"part {part}: depends on {d}, which is no part")
            allowed = rules.get(part, set())
            why = WHY.get((part, d), "not an arrow of docs/ARCHITECTURE.md")
            lint.check(d in allowed, f"part {part} -> {d}: forbidden ({why})")
    state = {}

    def visit(p, path):
        if state.get(p) == "done":
            return
        if state.get(p) == "open":
            lint.errors.append("cycle: " + " -> ".join(path + [p]))
            return
        state[p] = "open"
        for d in parts.get(p, []):
            visit(d, path + [p])
        state[p] = "done"

    for p in parts:
        visit(p, [])
    lint.checks += 1

    # 2. the include graph of user space; every folder there is a part
    userspace = os.path.join(root, "userspace")
    for entry in sorted(os.listdir(userspace)):
        if os.path.isdir(os.path.join(userspace, entry)):
            lint.check(entry in parts, f"userspace/{entry}/: a folder that is no part (declare it with zeroseg_part)")
    examined = 0
    for part in sorted(parts):
        folder = os.path.join(userspace, part)
        for path in source_files(folder):
            rel = os.path.relpath(path, root)
            for kind, target in includes(path):
                found = resolve(root, parts, path, kind, target)
                other = part_of(root, found) if found else None
                if other is None or other == part:
                    continue
                examined += 1
                why = WHY.get((part, other), "not declared in userspace/CMakeLists.txt")
                shown = f'"{target}"' if kind == '"' else f"<{target}>"
                lint.check(other in parts[part], f"{rel}: includes {shown}: {part} -> {other} ({why})")
    lint.check(examined > 0, "no include of one part by another was examined: the lint read nothing")

    # 3. the kernel side stays on its side (its programs, the ABI headers, the benchmarks' programs)
    kernel = [p for folder in ("bpf", "include") for p in source_files(os.path.join(root, folder))]
    kernel += [p for p in source_files(os.path.join(root, "bench")) if p.endswith(".bpf.c")]
    for path in kernel:
        rel = os.path.relpath(path, root)
        for kind, target in includes(path):
            found = resolve(root, parts, path, kind, target)
            inside = found and os.path.relpath(found, root).split(os.sep)[0] == "userspace"
            lint.check(not inside, f'{rel}: the kernel side includes user space ("{target}")')

    # 4. one name, one header: no two headers of the tree share a file name
    seen = {}
    for folder in ("userspace", "bpf", "include", "tests", "bench"):
        for path in source_files(os.path.join(root, folder)):
            if path.endswith(".h"):
                seen.setdefault(os.path.basename(path), []).append(os.path.relpath(path, root))
    for name, paths in sorted(seen.items()):
        lint.check(len(paths) == 1, f"{name}: the name of {len(paths)} headers ({', '.join(paths)}): name each for what it holds")

    # 5. a file a reader can take in: no source of a part or of the kernel past 500 lines
    for folder in ("userspace", "bpf", "include"):
        for path in source_files(os.path.join(root, folder)):
            lines = sum(1 for _ in open(path, errors="replace"))
            lint.check(lines <= MAX_LINES, f"{os.path.relpath(path, root)}: {lines} lines (at most {MAX_LINES}): split it by what it does")

    # 6. the pure parts' unit tests link no libbpf
    if build_dir:
        for name in PURE_TEST_BINARIES:
            check_no_libbpf(lint, os.path.join(build_dir, "tests", name))
    return lint


LIBBPF_SYMBOL = re.compile(r"\s(bpf_object__\w+|bpf_map_update_elem|ring_buffer__\w+|libbpf_\w+)(@\S+)?$", re.M)


def check_no_libbpf(lint, binary):
    """Neither a libbpf.so it needs, nor a libbpf symbol it defines (static) or calls."""
    name = os.path.basename(binary)
    if not os.path.exists(binary):
        lint.check(False, f"{binary}: missing (build the tests first)")
        return
    dynamic = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    needed = [l for l in dynamic.splitlines() if "(NEEDED)" in l and "libbpf.so" in l]
    symbols = subprocess.run(["nm", "-a", binary], capture_output=True, text=True).stdout
    symbols += subprocess.run(["nm", "-D", binary], capture_output=True, text=True).stdout
    found = sorted(set(m.group(1) for m in LIBBPF_SYMBOL.finditer(symbols)))
    evidence = ", ".join(found[:3]) if found else needed[0].strip() if needed else ""
    lint.check(not evidence, f"{name} links libbpf ({evidence}): a pure part reaches the loader")


def edit(rel, change):
    """A break that rewrites one file of the copy; False when the file no longer has what it changes."""
    def apply(tmp):
        path = os.path.join(tmp, rel)
        before = open(path).read()
        after = change(before)
        open(path, "w").write(after)
        return after != before
    return apply


def add_file(rel, text):
    def apply(tmp):
        open(os.path.join(tmp, rel), "w").write(text)
        return True
    return apply


def add_dir(rel):
    def apply(tmp):
        os.makedirs(os.path.join(tmp, rel))
        open(os.path.join(tmp, rel, "x.cpp"), "w").write("")
        return True
    return apply


def self_test(root, build_dir=None):
    """Breaks a copy of the tree in each way the lint knows; each must be named."""
    breaks = [
        ("an include of the loader from policy",
         edit("userspace/policy/compiler.cpp",
              lambda s: s.replace('#include "policy/compiler.h"', '#include "policy/compiler.h"\n#include "loader/datapath.h"', 1)),
         "policy -> loader"),
        ("a forbidden arrow declared",
         edit("userspace/CMakeLists.txt",
              lambda s: s.replace("DEPENDS abi common net identity\n  LIBS PkgConfig::YAMLCPP",
                                  "DEPENDS abi common net identity loader\n  LIBS PkgConfig::YAMLCPP", 1)),
         "part policy -> loader: forbidden"),
        ("api reaching the agent",
         edit("userspace/api/http.h", lambda s: s.replace("#pragma once", '#pragma once\n#include "agent/agent.h"', 1)),
         "api -> agent"),
        ("the kernel including user space",
         edit("bpf/lib/common.h", lambda s: s.replace("#define", '#include "loader/map.h"\n#define', 1)),
         "the kernel side includes user space"),
        ("a cycle",
         edit("userspace/CMakeLists.txt",
              lambda s: s.replace("SOURCES identity/allocator.cpp identity/labels.cpp\n  DEPENDS abi common",
                                  "SOURCES identity/allocator.cpp identity/labels.cpp\n  DEPENDS abi common policy", 1)),
         "cycle"),
        ("two headers of one name", add_file("userspace/policy/attach.h", "#pragma once\n"), "the name of 2 headers"),
        ("an angle-bracket include of the loader from policy",
         edit("userspace/policy/compiler.cpp",
              lambda s: s.replace('#include "policy/compiler.h"', '#include "policy/compiler.h"\n#include <loader/datapath.h>', 1)),
         "policy -> loader"),
        ("a relative include of the loader from policy",
         edit("userspace/policy/compiler.cpp",
              lambda s: s.replace('#include "policy/compiler.h"', '#include "policy/compiler.h"\n#include "../loader/transaction.h"', 1)),
         "policy -> loader"),
        ("the kernel reaching user space by a relative path",
         edit("bpf/lib/common.h", lambda s: s.replace("#define", '#include "../../userspace/loader/map.h"\n#define', 1)),
         "the kernel side includes user space"),
        ("an arrow added by target_link_libraries",
         edit("userspace/CMakeLists.txt", lambda s: s + "\ntarget_link_libraries(zeroseg_policy PRIVATE zeroseg_loader)\n"),
         "part policy -> loader: forbidden"),
        ("a folder that is no part", add_dir("userspace/undeclared"), "a folder that is no part"),
        ("a source past 500 lines", add_file("userspace/policy/long.cpp", "//\n" * 501), "501 lines"),
        ("an arrow the design's table no longer allows",
         edit("docs/ARCHITECTURE.md", lambda s: s.replace("| abi, common, net, identity |", "| abi, common, net |", 1)),
         "part policy -> identity: forbidden"),
        ("a part of the design gone",
         edit("userspace/CMakeLists.txt", lambda s: s.replace("zeroseg_part(inspect", "zeroseg_thing(inspect", 1)),
         "part inspect: in the design but not declared"),
    ]
    failures = []
    for what, apply, expected in breaks:
        with tempfile.TemporaryDirectory(prefix="zs-lint-") as tmp:
            for folder in ("userspace", "include", "bpf", "docs"):
                shutil.copytree(os.path.join(root, folder), os.path.join(tmp, folder))
            if not apply(tmp):
                failures.append(f"self-test: could not make {what} (the tree changed: update the self-test)")
                continue
            lint = lint_tree(tmp)
            if not any(expected in e for e in lint.errors):
                failures.append(f"self-test: {what} was not reported (wanted '{expected}', got {lint.errors})")
            else:
                print(f"self-test: {what}: reported")
    if build_dir:  # the libbpf check on a binary that does link it
        lint = Lint()
        check_no_libbpf(lint, os.path.join(build_dir, "userspace", "zeroseg"))
        if not any("links libbpf" in e for e in lint.errors):
            failures.append("self-test: the zeroseg binary was not reported as linking libbpf")
        else:
            print("self-test: a binary linking libbpf: reported")
    return failures, len(breaks)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source_dir")
    ap.add_argument("--build-dir")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    root = os.path.abspath(args.source_dir)
    failures = []
    if args.self_test:
        f, n = self_test(root, args.build_dir)
        failures += f
    lint = lint_tree(root, args.build_dir)
    failures += lint.errors
    for f in failures:
        print("lint.architecture: " + f, file=sys.stderr)
    print(f"lint.architecture: {lint.checks} checks, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
