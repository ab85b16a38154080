#!/usr/bin/env bash
# unit.cli_man: the man pages the build generates from the command tree
# (`zeroseg man`) are installed by `cmake --install`, one per command,
# render without a groff warning, and say what --help says; the README and
# docs are installed with their links intact.
set -euo pipefail
source "$(dirname "$0")/../e2e/lib.sh"
build=${1:?usage: man.sh BUILD_DIR}
zeroseg=$build/userspace/zeroseg

# DESTDIR, not only --prefix: the settings file's destination is absolute
# (/etc/zeroseg, whatever the prefix), and this test must not write there
dest=$(mktemp -d /tmp/zs-man-XXXXXX)
trap 'rm -rf "$dest"' EXIT
etc_before=$([ -e /etc/zeroseg ] && echo present || echo absent)
DESTDIR=$dest cmake --install "$build" --prefix /usr >/dev/null
prefix=$dest/usr
man1=$prefix/share/man/man1
[ -x "$prefix/bin/zeroseg" ] && pass "cmake --install installs the binary" || fail "no $prefix/bin/zeroseg"
[ -f "$dest/etc/zeroseg/agent.yaml" ] && pass "the settings file lands under DESTDIR" || fail "no $dest/etc/zeroseg/agent.yaml"
expect_eq "nothing written to the machine's /etc/zeroseg" "$([ -e /etc/zeroseg ] && echo present || echo absent)" "$etc_before"

# every command path has its page: the words under each, from --help
pages=0
check_words() {  # WORD...: the command's page, and its subcommands', recursively
  local words page
  words=$("$zeroseg" "$@" --help 2>/dev/null | awk '/^Subcommands:/ {on=1; next} on && /^  [a-z]/ {print $1}')
  page=$(IFS=-; echo "zeroseg${*:+-$*}")
  if [ -f "$man1/$page.1" ]; then pages=$((pages + 1)); else fail "no page $page.1"; fi
  for w in $words; do check_words "$@" "$w"; done
}
check_words
expect_eq "one page per command, and no other" "$(find "$man1" -name 'zeroseg*.1' | wc -l)" "$pages"
[ "$pages" -ge 30 ] && pass "$pages pages" || fail "only $pages pages"
[ ! -e "$man1/zeroseg-man.1" ] && pass "the build's own word has no page" || fail "zeroseg-man.1 installed"

warnings=$(for f in "$man1"/*.1; do groff -man -Tutf8 -ww -z "$f" 2>&1 | sed "s|^|$(basename "$f"): |"; done)
expect_eq "every page renders without a groff warning" "$warnings" ""
flows=$(MANWIDTH=100 man -l "$man1/zeroseg-flows.1" 2>/dev/null)
expect_contains "zeroseg-flows(1) lists --from-label" "$flows" "--from-label TEXT"
expect_contains "zeroseg-flows(1): its description" "$flows" "Source labels key=value[,key=value] (repeatable: all must match)"
status=$(MANWIDTH=100 man -l "$man1/zeroseg-status.1" 2>/dev/null)
expect_contains "zeroseg-status(1) documents the exit codes" "$status" "2  no agent answers on the socket"
top=$(MANWIDTH=100 man -l "$man1/zeroseg.1" 2>/dev/null)
expect_contains "zeroseg(1) points to the words' pages" "$top" "zeroseg-policy(1)"
diff_page=$(MANWIDTH=100 man -l "$man1/zeroseg-policy-diff.1" 2>/dev/null)
expect_contains "a nested word's page names its parent" "$diff_page" "zeroseg-policy(1)"

# the README and the docs as installed: their relative links (pages, the
# map's image, the example policies, the benchmarks' plots) resolve there as
# in the repository
doc=$prefix/share/doc/zeroseg
dead=$(cd "$doc" && for page in README.md docs/*.md; do
  grep -o '\](\([^)#]*\)' "$page" | sed 's/^](//' | grep -v -e '^[a-z]*:' -e '^$' | while read -r link; do
    case $link in ../bench/plots/*) ;; ../bench/*) continue ;; esac  # of the benchmarks, only the plots are installed
    [ -e "$(dirname "$page")/$link" ] || echo "$page -> $link"
  done
done; true)  # a page without links is no failure
expect_eq "every relative link of the installed README and docs resolves" "$dead" ""
expect_ok "the map's screenshot is installed" test -s "$doc/docs/img/map.png"

e2e_summary
