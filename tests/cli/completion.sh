#!/usr/bin/env bash
# unit.cli_completion: `zeroseg completion bash|zsh|fish` loads in each shell
# and completes words, options and option values from the CLI's own tree;
# ZEROSEG_SOCKET names the socket when --socket is not given.
set -euo pipefail
source "$(dirname "$0")/../e2e/lib.sh"
zeroseg=${1:?usage: completion.sh ZEROSEG_BINARY}

# bash: what _zeroseg offers for the words typed so far (the last is the
# word being completed).
bash_complete() {
  bash --norc --noprofile -c '
    source <("$1" completion bash)
    shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _zeroseg
    printf "%s\n" "${COMPREPLY[@]}"' _ "$zeroseg" "$@"
}
expect_eq "bash: the first word" "$(bash_complete zeroseg po | tr '\n' ' ')" "policy "
expect_eq "bash: the words under policy" "$(bash_complete zeroseg policy '' | sort | tr '\n' ' ')" \
  "diff get list suggest trace validate "
expect_eq "bash: nested words" "$(bash_complete zeroseg bpf ipcache '' | sort | tr '\n' ' ')" "delete set "
expect_eq "bash: an option's value is skipped" \
  "$(bash_complete zeroseg policy --socket /tmp/s tr | tr '\n' ' ')" "trace "
expect_eq "bash: a flag takes no value" "$(bash_complete zeroseg -v po | tr '\n' ' ')" "policy "
expect_eq "bash: after a flag, the next option" "$(bash_complete zeroseg flows --follow --la | tr '\n' ' ')" "--last "
expect_eq "bash: options of a word" "$(bash_complete zeroseg apply --dr | tr '\n' ' ')" "--dry-run "
dir=$(mktemp -d); touch "$dir/web.yaml"
trap 'rm -rf "$dir"' EXIT
expect_eq "bash: a file after -f" "$(bash_complete zeroseg apply -f "$dir/we")" "$dir/web.yaml"

# fish completes for real with `complete -C`.
if command -v fish >/dev/null; then
  fish_complete() { fish --no-config -c "source ($zeroseg completion fish | psub); complete -C '$1'"; }
  expect_eq "fish: the words under policy" "$(fish_complete 'zeroseg policy ' | cut -f1 | sort | tr '\n' ' ')" \
    "diff get list suggest trace validate "
  expect_contains "fish: descriptions" "$(fish_complete 'zeroseg qua')" "quarantine"
  expect_eq "fish: a flag takes no value" "$(fish_complete 'zeroseg -v pol' | cut -f1)" "policy"
  expect_eq "fish: an option's value is skipped" "$(fish_complete 'zeroseg -o json pol' | cut -f1)" "policy"
else
  fail "fish is not installed (scripts/install-deps.sh installs it)"
fi

# zsh runs the bash function through bashcompinit.
if command -v zsh >/dev/null; then
  out=$(zsh -f -c 'autoload -U compinit && compinit -u -D
    source <("$1" completion zsh)
    setopt ksharrays
    COMP_WORDS=(zeroseg bpf "") COMP_CWORD=2
    _zeroseg; print -l -- "${COMPREPLY[@]}"' _ "$zeroseg" | sort | tr '\n' ' ')
  expect_eq "zsh: the words under bpf" "$out" "attach detach dump ipcache load policy uninstall "
else
  fail "zsh is not installed (scripts/install-deps.sh installs it)"
fi

# ZEROSEG_SOCKET is used when --socket is not given, and --socket wins.
set +e
env_out=$(ZEROSEG_SOCKET="$dir/env.sock" "$zeroseg" policy list 2>&1)
flag_out=$(ZEROSEG_SOCKET="$dir/env.sock" "$zeroseg" policy list --socket "$dir/flag.sock" 2>&1)
set -e
expect_contains "ZEROSEG_SOCKET names the socket" "$env_out" "$dir/env.sock"
expect_contains "--socket wins over ZEROSEG_SOCKET" "$flag_out" "$dir/flag.sock"

e2e_summary
