# Shared helpers for the end-to-end tests: root checks, namespaces with an
# exact cleanup, and assertions that say what they expected.
# shellcheck shell=bash

e2e_require_root() {
  if [ "$(id -u)" != 0 ]; then
    if [ "${ZEROSEG_REQUIRE_PRIVILEGED:-0}" = 1 ]; then
      echo "FAIL: needs root (network namespaces, BPF), and ZEROSEG_REQUIRE_PRIVILEGED=1" >&2
      exit 1
    fi
    echo "SKIP: needs root (network namespaces, BPF)"
    exit 77
  fi
}

# e2e_skip REASON: skip (ctest's exit 77) with the reason; where CI sets
# ZEROSEG_REQUIRE_PRIVILEGED=1, a skip hides a test that should have run: fail.
e2e_skip() {
  if [ "${ZEROSEG_REQUIRE_PRIVILEGED:-0}" = 1 ]; then
    echo "FAIL: would skip ($1), and ZEROSEG_REQUIRE_PRIVILEGED=1" >&2
    exit 1
  fi
  echo "SKIP: $1"
  exit 77
}

E2E_FAILURES=0
E2E_CHECKS=0

pass() { E2E_CHECKS=$((E2E_CHECKS + 1)); printf '  ok    %s\n' "$1"; }
fail() { E2E_CHECKS=$((E2E_CHECKS + 1)); E2E_FAILURES=$((E2E_FAILURES + 1)); printf '  FAIL  %s\n' "$1"; }

# expect_ok DESCRIPTION CMD...: the command must succeed
expect_ok() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what (command failed: $*)"; fi
}

# expect_fail DESCRIPTION CMD...: the command must fail
expect_fail() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then fail "$what (command succeeded: $*)"; else pass "$what"; fi
}

# expect_eq DESCRIPTION GOT WANT
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi
}

# expect_contains DESCRIPTION TEXT PART
expect_contains() {
  if [[ $2 == *"$3"* ]]; then pass "$1"; else fail "$1 ('$3' not in: ${2:0:300})"; fi
}

# A test that ran no check fails: it proved nothing.
e2e_summary() {
  echo "$((E2E_CHECKS - E2E_FAILURES)) passed, $E2E_FAILURES failed"
  [ "$E2E_CHECKS" -gt 0 ] || { echo "FAIL: no check ran"; return 1; }
  [ "$E2E_FAILURES" = 0 ]
}

# e2e_nothing_left TAG PIN_DIR: after cleanup, no namespace, link, pin or
# process of the test may remain (names carry TAG)
e2e_nothing_left() {
  local tag=$1 pin=$2 left=""
  local ns links procs
  ns=$(ip netns list | awk '{print $1}' | grep -c "^$tag-" || true)
  links=$(ip -o link show | grep -c "$tag-" || true)
  procs=$(pgrep -fc -- "$tag" || true)
  [ "$ns" = 0 ] || left+=" $ns namespaces"
  [ "$links" = 0 ] || left+=" $links links"
  [ ! -e "$pin" ] || left+=" the pin dir $pin"
  [ "$procs" = 0 ] || left+=" $procs processes"
  if [ -z "$left" ]; then pass "nothing of $tag left behind"; else fail "left behind:$left"; fi
}
