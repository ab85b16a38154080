#!/usr/bin/env python3
"""The docs a newcomer reads run: README.md, docs/*.md, policies/README.md.

Usage: docs.py --binary ZEROSEG [--self-test] SOURCE_DIR

For every page:
- every ```yaml block that is a zeroseg object (it has `apiVersion:` and
  `kind:`) validates with the real binary (`zeroseg policy validate -f`,
  offline); a ```yaml block of agent settings, marked
  `<!-- docs-check: agent-config -->` on the line before the fence, names
  only keys of the settings table (`zeroseg agent --settings-reference`);
- every `zeroseg ...` command line in a ```sh block parses: its words are
  a path of the CLI's command tree and each option is one of that path's,
  with the option's value skipped when it takes one (the tree is the one
  `zeroseg completion bash` prints, so no agent is needed). Also through
  `scripts/lab.sh [--cluster] zeroseg [NODE] ...` and after `sudo`. A block
  marked `<!-- docs-check: synopsis -->` is a grammar (`a | b`, `[--x]`):
  its words must be the tree's and each option must exist at its path,
  above it or below it. `zeroseg ...` in inline code of the prose is
  checked the same way;
- it opens, under its title, with a paragraph of prose saying what the
  page is (not a code block, list, table or image: a newcomer lands on
  any page from a link);
- it does not send the reader to itself (`docs/x.md` on docs/x.md: a
  text moved from another page), nor names an `issue N` without a link (the reader has no tracker);
- every relative link and image resolves inside the repository (a link or
  a backticked `../x` path out of it works only on one machine), every
  backticked path of the tree (`docs/x.md`, `scripts/lab.sh`, ...)
  exists, and every metric
  (`zeroseg_*`) it names is a family the agent writes (`family("...")` in
  userspace/), or a prefix of one when it ends in `_`.
A block that is deliberately not runnable says so on the line before its
fence: `<!-- docs-check: skip REASON -->` (the reason is required).

--self-test first breaks copies of a page in each of those ways and fails
unless each break is named.
"""
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile

MARKER = re.compile(r"^\s*<!--\s*docs-check:\s*(\S+)\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
SH_LANGS = {"sh", "bash", "shell", "console"}
YAML_LANGS = {"yaml", "yml"}
OPERATORS = {"|", "||", "&&", ";", "&", "(", ")", "$(", "<(", ";;", "|&", "`"}
REDIRECTS = {">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|"}
TREE_DIRS = ("docs", "scripts", "tests", "bench", "deploy", "policies", "userspace", "bpf",
             "include", "vagrant", "cmake")
METRIC = re.compile(r"\bzeroseg_[a-z][a-z0-9_]*\b(?!\()")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE = re.compile(r"(`+)(.+?)\1")
ISSUE = re.compile(r"\bissues? (?:#)?\d+\b", re.I)


class Tree:
    """The CLI's command tree, read from `zeroseg completion bash`."""

    def __init__(self, binary):
        out = subprocess.run([binary, "completion", "bash"], capture_output=True, text=True, check=True).stdout
        self.words, self.options, self.takes_value = {}, {}, set()
        table = None
        for line in out.splitlines():
            m = re.match(r"declare -gA (_zeroseg_\w+)=\(", line)
            if m:
                table = m.group(1)
                continue
            if line.startswith(")"):
                table = None
                continue
            m = re.match(r"\s*\[(.*)\]=(.*)$", line)
            if not m or not table:
                continue
            key, value = shlex.split(m.group(1))[0], shlex.split(m.group(2) or "''")
            value = value[0] if value else ""
            if table == "_zeroseg_words":
                self.words[key] = value.split()
            elif table == "_zeroseg_options":
                self.options[key] = set(value.split())
            elif table == "_zeroseg_takes_value":
                self.takes_value.add(key)
        if len(self.words) < 20:
            raise SystemExit(f"FAIL: the command tree read from `{binary} completion bash` has {len(self.words)} paths")

    def subtree(self, path):
        return [p for p in self.words if p == path or p.startswith(path + " ")]

    def ancestors(self, path):
        parts = path.split()
        return [" ".join(parts[:i]) for i in range(1, len(parts) + 1)]


class Checker:
    def __init__(self, root, binary, tree, settings, families):
        self.root, self.binary, self.tree = root, binary, tree
        self.settings, self.families = settings, families
        self.problems = []
        self.counts = {"objects": 0, "agent-config": 0, "commands": 0, "synopses": 0, "links": 0,
                       "paths": 0, "metrics": 0, "skipped": 0}

    def fail(self, where, what):
        self.problems.append(f"{where}: {what}")

    # --- commands -----------------------------------------------------------
    def check_command(self, where, tokens):
        """tokens: what follows `zeroseg`, up to the end of the simple command."""
        self.counts["commands"] += 1
        path = "zeroseg"
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if t.startswith("[") or t in {"...", "|"}:
                self.fail(where, f"`zeroseg {' '.join(tokens)}` is a grammar, not a command: mark its block "
                                 "<!-- docs-check: synopsis -->")
                return
            if t.startswith("-") and t != "-" and t != "--":
                name = t.split("=", 1)[0]
                if name not in self.tree.options.get(path, set()):
                    self.fail(where, f"`{path}` has no option {name} (`{path} --help`)")
                    return
                if f"{path}|{name}" in self.tree.takes_value and "=" not in t:
                    i += 1
            elif self.tree.words.get(path):
                if f"{path} {t}" in self.tree.words:
                    path = f"{path} {t}"
                else:
                    self.fail(where, f"`{path}` has no command {t!r} (it has: {', '.join(self.tree.words[path])})")
                    return
            i += 1
        if self.tree.words.get(path) and path != "zeroseg":
            # a bare group (`zeroseg policy`) only prints its help: say what was meant
            self.fail(where, f"`{path}` needs a command (one of: {', '.join(self.tree.words[path])})")

    def check_synopsis(self, where, text):
        """A grammar line: `zeroseg policy list | get NAME | validate -f PATH`:
        alternatives split at a lone `|`, each one's words a path of the tree
        (an alternative may start at any group above), each option at, above
        or below its path."""
        self.counts["synopses"] += 1
        tokens = [t for t in re.split(r"[\s\[\]{}()]+", text) if t]
        if not tokens or tokens[0] != "zeroseg":
            return
        alternatives, current = [], []
        for t in tokens[1:]:
            if t == "|":
                alternatives.append(current)
                current = []
            else:
                current.append(t)
        alternatives.append(current)
        path = "zeroseg"
        for n, alt in enumerate(alternatives):
            i = 0
            if n > 0 and alt:
                if alt[0] == "zeroseg":
                    path, i = "zeroseg", 1
                else:  # a sibling at some level above: `list | get NAME`, `workload list | identity list`
                    for p in reversed(self.tree.ancestors(path)[:-1] or ["zeroseg"]):
                        if f"{p} {alt[0]}" in self.tree.words:
                            path = p
                            break
            while i < len(alt) and f"{path} {alt[i]}" in self.tree.words:
                path = f"{path} {alt[i]}"
                i += 1
            if n == 0 and path == "zeroseg" and alt and re.fullmatch(r"[a-z][a-z-]*", alt[0]):
                self.fail(where, f"`zeroseg` has no command {alt[0]!r}")
                return
            scope = set()
            for p in self.tree.ancestors(path) + self.tree.subtree(path):
                scope |= self.tree.options.get(p, set())
            for t in alt[i:]:
                m = re.match(r"(--?[A-Za-z][\w-]*)", t)
                if not m or m.group(1).lstrip("-").isupper():  # --SETTING: a placeholder
                    continue
                if m.group(1) not in scope:
                    self.fail(where, f"no option {m.group(1)} at or under `{path}`")

    def shell_commands(self, where, line):
        """The zeroseg invocations of one shell line."""
        try:
            lex = shlex.shlex(line, posix=True, punctuation_chars=True)
            lex.whitespace_split = True
            lex.commenters = "#"
            tokens = list(lex)
        except ValueError as e:
            self.fail(where, f"the line does not parse as shell ({e}): {line}")
            return
        prev = None
        cluster = "--cluster" in tokens
        for k, t in enumerate(tokens):
            is_zeroseg = (t == "zeroseg" or t.endswith("/zeroseg")) and (
                prev is None or prev in OPERATORS or prev in {"sudo", "-E", "exec", "time", "command", "$", "<"}
                or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", prev or "") or prev.endswith("lab.sh")
                or prev == "--cluster" or prev.startswith("--net="))
            if is_zeroseg:
                rest = []
                for u in tokens[k + 1:]:
                    if u in OPERATORS or u in REDIRECTS:
                        break
                    rest.append(u)
                if rest and rest[-1].isdigit() and len(tokens) > k + 1 + len(rest) and tokens[k + 1 + len(rest)] in REDIRECTS:
                    rest.pop()  # 2>/dev/null
                lab = any(x.endswith("lab.sh") for x in tokens[:k])
                if cluster and lab and rest and rest[0].isdigit():
                    rest = rest[1:]  # scripts/lab.sh --cluster zeroseg NODE ...
                self.check_command(where, rest)
                if lab:
                    self.check_lab_files(where, rest)
            prev = t

    def check_lab_files(self, where, rest):
        """A lab's tour runs from the repository: a file it applies must be
        one of the tree's (a reader has no my-policy.yaml); FILE or $VAR
        stay placeholders."""
        for opt, val in zip(rest, rest[1:]):
            if opt not in {"-f", "--filename"} or val == "-" or re.search(r"[$A-Z]", val):
                continue
            self.counts["paths"] += 1
            if not os.path.exists(os.path.join(self.root, val)):
                self.fail(where, f"the lab's `-f {val}` is no file of the repository: apply one it has "
                                 "(policies/...), or write FILE")

    # --- blocks -------------------------------------------------------------
    def check_yaml_object(self, where, text):
        self.counts["objects"] += 1
        with tempfile.TemporaryDirectory(prefix="zs-docs-") as d:
            name = re.sub(r"[^\w.-]", "_", where) + ".yaml"
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([self.binary, "policy", "validate", "-f", path], capture_output=True, text=True)
            if r.returncode != 0:
                out = (r.stdout + r.stderr).strip().replace(path, "the block")
                self.fail(where, f"the example does not validate (`zeroseg policy validate`): {out}")

    def check_agent_config(self, where, text):
        import yaml
        self.counts["agent-config"] += 1
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            self.fail(where, f"agent settings that are no YAML: {e}")
            return
        if not isinstance(doc, dict):
            self.fail(where, "agent settings must be a mapping of keys")
            return
        for key in doc:
            if key not in self.settings:
                self.fail(where, f"agent setting {key!r} is not in the settings table (docs/agent-settings.md)")

    def check_opening(self, rel, lines):
        """The first thing under the title is a paragraph of prose."""
        i = 0
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i < len(lines) and lines[i].startswith("# "):
            i += 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        first = lines[i].strip() if i < len(lines) else ""
        if (not first or FENCE.match(lines[i]) or MARKER.match(first) or first.startswith(("#", "|", "!["))
                or re.match(r"([-*+]|\d+\.)\s", first)):
            self.fail(f"{rel}:{i + 1}", "the page opens with no paragraph saying what it is "
                                        f"(it starts: {first[:40]!r})")

    def outside(self, page_dir, path):
        full = os.path.normpath(os.path.join(page_dir, path))
        return os.path.relpath(full, os.path.normpath(self.root)).startswith("..")

    def check_page(self, rel, text):
        self.page_text = text
        lines = text.split("\n")
        # the README's contract is the other way round: its two commands
        # (the demo, every test) come first, its paragraph right after
        if rel != "README.md":
            self.check_opening(rel, lines)
        marker = None
        i = 0
        prose = []
        while i < len(lines):
            line = lines[i]
            m = FENCE.match(line)
            if not m:
                mm = MARKER.match(line)
                if mm:
                    marker = (mm.group(1), mm.group(2))
                    if marker[0] == "skip" and not marker[1]:
                        self.fail(f"{rel}:{i + 1}", "docs-check: skip needs a reason")
                    if marker[0] not in {"skip", "synopsis", "agent-config"}:
                        self.fail(f"{rel}:{i + 1}", f"unknown marker docs-check: {marker[0]}")
                    i += 1
                    continue
                prose.append((i + 1, line))
                if line.strip():
                    marker = None
                i += 1
                continue
            fence, lang = m.group(2), m.group(3).lower()
            start = i + 1
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence[0] * len(fence)):
                body.append(lines[i])
                i += 1
            i += 1
            kind = marker[0] if marker else None
            marker = None
            where = f"{rel}:{start}"
            text_block = "\n".join(body) + "\n"
            if kind == "skip":
                self.counts["skipped"] += 1
                continue
            if lang in YAML_LANGS:
                if kind == "agent-config":
                    self.check_agent_config(where, text_block)
                elif re.search(r"^apiVersion:", text_block, re.M) and re.search(r"^kind:", text_block, re.M):
                    self.check_yaml_object(where, text_block)
                else:
                    self.fail(where, "a yaml block that is no zeroseg object needs a marker "
                                     "(docs-check: agent-config, or skip REASON)")
            elif lang in SH_LANGS:
                joined, first = "", None
                for n, b in enumerate(body):
                    first = first or start + 1 + n
                    if b.rstrip().endswith("\\"):
                        joined += b.rstrip()[:-1] + " "
                        continue
                    joined += b
                    if kind == "synopsis":
                        code = joined.split(" # ")[0].split("  #")[0]
                        if code.strip().startswith("zeroseg"):
                            self.check_synopsis(f"{rel}:{first}", code)
                    else:
                        self.shell_commands(f"{rel}:{first}", joined)
                    joined, first = "", None
            self.check_metrics(where, text_block)
        self.check_prose(rel, prose)

    # --- prose --------------------------------------------------------------
    def check_prose(self, rel, prose):
        page_dir = os.path.dirname(os.path.join(self.root, rel))
        for n, line in prose:
            where = f"{rel}:{n}"
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue
                self.counts["links"] += 1
                path, _, anchor = target.partition("#")
                page = os.path.normpath(os.path.join(page_dir, path)) if path else None
                if anchor and (page is None or (page.endswith(".md") and os.path.isfile(page))):
                    text = self.page_text if page is None else open(page).read()
                    if anchor not in slugs(text):
                        self.fail(where, f"the link {target} names no heading of {path or 'this page'}")
                    continue
                if self.outside(page_dir, path):
                    self.fail(where, f"the link {target} leads out of the repository")
                elif not os.path.exists(os.path.normpath(os.path.join(page_dir, path))):
                    self.fail(where, f"the link {target} leads nowhere (relative to {os.path.dirname(rel) or '.'}/)")
            bare = ISSUE.search(LINK.sub("", INLINE.sub("", line)))
            if bare:
                self.fail(where, f"{bare.group(0)!r} is a tracker the reader cannot open: "
                                 "say what it is, or link it")
            for target in [t.split("#")[0] for t in LINK.findall(line)] + [c.strip() for _, c in INLINE.findall(line)]:
                if target and (target == rel or os.path.normpath(os.path.join(page_dir, target))
                               == os.path.normpath(os.path.join(self.root, rel))):
                    self.fail(where, f"the page sends the reader to itself ({target}): name the section")
            for _, code in INLINE.findall(line):
                code = code.strip()
                if code.startswith("zeroseg "):
                    self.check_synopsis(where, code)
                first = code.split()[0] if code.split() else ""
                if first.startswith("../") and self.outside(page_dir, first):
                    self.fail(where, f"`{first}` is out of the repository")
                if (first.split("/", 1)[0] in TREE_DIRS and "/" in first and first == code
                        and not re.search(r"[*{}$<>]|\.\.\.", first)):
                    path = first.split(":", 1)[0].rstrip(".,;")
                    self.counts["paths"] += 1
                    if not os.path.exists(os.path.join(self.root, path)) and not re.search(r"[A-Z]{2,}", path):
                        self.fail(where, f"`{path}` is no file of the tree")
            self.check_metrics(where, line)

    def check_metrics(self, where, text):
        for name in METRIC.findall(text):
            self.counts["metrics"] += 1
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name in self.families or base in self.families:
                continue
            if name.endswith("_") and any(f.startswith(name) for f in self.families):
                continue
            self.fail(where, f"no metric family {name} (families are written by `family(\"...\")` in userspace/)")


def slugs(text):
    """The anchors GitHub gives a page's headings (outside code blocks)."""
    found, fence = set(), None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if m and (fence is None or m.group(2)[0] == fence):
            fence = None if fence else m.group(2)[0]
            continue
        h = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if h and fence is None:
            slug = re.sub(r"[^\w\- ]", "", h.group(1).lower()).replace(" ", "-")
            n, base = 1, slug
            while slug in found:
                slug, n = f"{base}-{n}", n + 1
            found.add(slug)
    return found


def check_cli_coverage(checker, rel, text):
    """docs/cli.md names every command of the tree (its words on one line)
    and every long option (the agent's: as a key of the settings table)."""
    lines = text.split("\n")
    for path in sorted(checker.tree.words):
        words = path.split()[1:]
        if not words or words[0] == "man":  # the build's own word, hidden
            continue
        if not any(all(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", line) for w in words) for line in lines):
            checker.fail(rel, f"the command `{path}` is not named (its words on one line)")
        for o in sorted(checker.tree.options.get(path, ())):
            if not o.startswith("--") or o == "--help":
                continue
            if path == "zeroseg agent" and o[2:] in checker.settings:
                continue
            if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text):
                checker.fail(rel, f"the option {o} of `{path}` is not named")


def pages(root):
    found = [os.path.join(root, "README.md"), os.path.join(root, "policies", "README.md")]
    found += sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    return [p for p in found if os.path.exists(p)]


def metric_families(root):
    """Metric families the agent writes, and the CMake functions named like
    them (`zeroseg_part`), which a page may name too."""
    families = set()
    for path in glob.glob(os.path.join(root, "*", "CMakeLists.txt")) + glob.glob(os.path.join(root, "cmake", "*.cmake")):
        families |= set(re.findall(r"^\s*function\((zeroseg_[a-z0-9_]+)", open(path).read(), re.M))
    for path in glob.glob(os.path.join(root, "userspace", "**", "*.*"), recursive=True):
        if path.endswith((".cpp", ".h")):
            families |= set(re.findall(r"family\(\s*\"((?:zeroseg|process)_[a-z0-9_]+)\"", open(path).read()))
    return families


def settings_keys(binary):
    out = subprocess.run([binary, "agent", "--settings-reference"], capture_output=True, text=True, check=True).stdout
    keys = set(re.findall(r"^\|\s*`([a-z][a-z0-9-]*)`", out, re.M))
    if len(keys) < 15:
        raise SystemExit(f"FAIL: only {len(keys)} settings read from `zeroseg agent --settings-reference`")
    return keys


BREAKS = [
    # (what, text appended to a page, what the failure must say)
    ("a wrong field in an example object",
     "```yaml\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: x, namespace: prod}\n"
     "spec:\n  selector: {matchLabels: {tier: web}}\n  ingres:\n  - from: [{entity: all}]\n```\n",
     "does not validate"),
    ("an example object of an unknown kind",
     "```yaml\napiVersion: zeroseg.io/v1\nkind: SegmentPolicie\nmetadata: {name: x}\n```\n",
     "does not validate"),
    ("a yaml block of no known sort", "```yaml\nfoo: bar\n```\n", "needs a marker"),
    ("an agent setting that does not exist",
     "<!-- docs-check: agent-config -->\n```yaml\nui-listn: 127.0.0.1:9000\n```\n", "'ui-listn'"),
    ("a flag that does not exist", "```sh\nzeroseg flows --folow\n```\n", "no option --folow"),
    ("a flag at the wrong command", "```sh\nsudo zeroseg apply -f x.yaml --exit-code\n```\n",
     "no option --exit-code"),
    ("a command that does not exist", "```sh\nsudo scripts/lab.sh zeroseg policy lst\n```\n",
     "no command 'lst'"),
    ("a command word through the cluster lab", "```sh\nsudo scripts/lab.sh --cluster zeroseg 3 clustr status\n```\n",
     "no command 'clustr'"),
    ("a file the lab's tour does not have", "```sh\nsudo scripts/lab.sh --cluster zeroseg 1 apply -f my-policy.yaml\n```\n",
     "no file of the repository"),
    ("a group without its command", "```sh\nzeroseg quarantine   # add what?\n```\n", "needs a command"),
    ("a grammar in a runnable block", "```sh\nzeroseg flows [--follow]\n```\n", "is a grammar"),
    ("a flag in a synopsis", "<!-- docs-check: synopsis -->\n```sh\nzeroseg policy list | diff -f PATH [--exit-cod]\n```\n",
     "no option --exit-cod"),
    ("a flag in the prose", "Run `zeroseg status --datapath-onyl` alone.\n", "no option --datapath-onyl"),
    ("a dead link", "See [the tour](docs/no-such-page.md).\n", "leads nowhere"),
    ("a missing image", "![a plot](bench/plots/no-such.png)\n", "leads nowhere"),
    ("a backticked path that is gone", "The lab is `scripts/lib/no_such_lab.sh`.\n", "no file of the tree"),
    ("a metric that does not exist", "Watch `zeroseg_flows_stared_total`.\n", "no metric family zeroseg_flows_stared_total"),
    ("a skip without a reason", "<!-- docs-check: skip -->\n```sh\nzeroseg nothing\n```\n", "needs a reason"),
    ("a link to a heading that is not there", "See [the needs](#requirement).\n", "names no heading"),
    ("a link to a heading of another page that is not there", "See [it](docs/labs.md#the-vm-labs).\n",
     "names no heading"),
    ("an issue named but not linked", "This is the open work of issue 16.\n", "'issue 16' is a tracker"),
    ("a page that names itself", "The fields: `README.md`.\n", "sends the reader to itself"),
    ("a page that links itself", "The fields: [here](./README.md).\n", "sends the reader to itself"),
    ("a link out of the repository", "See [the design](../shared/DESIGN.md).\n", "out of the repository"),
    ("a path out of the repository", "The design is in `../shared/DESIGN.md`.\n", "out of the repository"),
]

# (what, a whole page, what the failure must say)
PAGE_BREAKS = [
    ("a page that opens with a code block", "# The lab\n\n```sh\nzeroseg status\n```\n", "opens with no paragraph"),
    ("a page that opens with a list", "# The datapath\n\n- **Hooks.** three programs\n", "opens with no paragraph"),
    ("a page that opens with a heading", "# The CLI\n\n## Using it\n\nRun it.\n", "opens with no paragraph"),
    ("a page that opens with an image", "# The map\n\n![the map](img/map.png)\n", "opens with no paragraph"),
]


def self_test(root, binary, tree, settings, families):
    ok = True
    cli = open(os.path.join(root, "docs", "cli.md")).read()
    for what, old, new, expect in [
            ("an option the CLI page does not name", "--exit-code", "--exit-cod", "--exit-code of `zeroseg policy diff`"),
            ("a command the CLI page does not name", "zeroseg cluster status", "zeroseg cluster", "`zeroseg cluster status`")]:
        c = Checker(root, binary, tree, settings, families)
        check_cli_coverage(c, "docs/cli.md", cli.replace(old, new))
        named = [p for p in c.problems if expect in p]
        if named:
            print(f"self-test ok: {what}: {named[0]}")
        else:
            ok = False
            print(f"FAIL: self-test: {what} was not named (expected {expect!r}); problems: {c.problems}")
    base = open(os.path.join(root, "README.md")).read()
    cases = [(w, "README.md", base + "\n" + extra, e) for w, extra, e in BREAKS]
    cases += [(w, "docs/broken.md", page, e) for w, page, e in PAGE_BREAKS]
    for what, rel, page, expect in cases:
        c = Checker(root, binary, tree, settings, families)
        c.check_page(rel, page)
        named = [p for p in c.problems if expect in p]
        if named:
            print(f"self-test ok: {what}: {named[0]}")
        else:
            ok = False
            print(f"FAIL: self-test: {what} was not named (expected {expect!r}); problems: {c.problems}")
    return ok


def main():
    args = sys.argv[1:]
    binary, selftest, root = None, False, None
    while args:
        a = args.pop(0)
        if a == "--binary":
            binary = args.pop(0)
        elif a == "--self-test":
            selftest = True
        else:
            root = a
    if not binary or not root:
        print(__doc__)
        return 2
    tree = Tree(binary)
    settings = settings_keys(binary)
    families = metric_families(root)
    if len(families) < 20:
        print(f"FAIL: only {len(families)} metric families found under {root}/userspace")
        return 1
    if selftest and not self_test(root, binary, tree, settings, families):
        return 1
    c = Checker(root, binary, tree, settings, families)
    checked = pages(root)
    for p in checked:
        c.check_page(os.path.relpath(p, root), open(p).read())
    check_cli_coverage(c, "docs/cli.md", open(os.path.join(root, "docs", "cli.md")).read())
    for p in c.problems:
        print("FAIL:", p)
    n = c.counts
    print(f"{len(checked)} pages: {n['objects']} example objects validated, {n['agent-config']} settings blocks, "
          f"{n['commands']} command lines and {n['synopses']} synopses parsed, {n['links']} links and "
          f"{n['paths']} paths resolved, {n['metrics']} metric names found, {n['skipped']} blocks marked skip")
    if n["objects"] == 0 or n["commands"] == 0 or n["links"] == 0 or n["metrics"] == 0:
        print("FAIL: a kind of check ran on nothing")
        return 1
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main())
