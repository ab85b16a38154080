# shellcheck shell=bash
# Colour for the scripts people watch (demo.sh): only on a terminal, never
# with NO_COLOR set and not empty (https://no-color.org), nor TERM=dumb, as
# the zeroseg CLI does. Sets bold, red, green, boldred and plain (the reset)
# to escape sequences, or to nothing.
# shellcheck disable=SC2034  # read by the scripts that source this
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-}" != dumb ]; then
  bold=$'\033[1m' red=$'\033[31m' green=$'\033[32m' boldred=$'\033[1;31m' plain=$'\033[0m'
else
  bold='' red='' green='' boldred='' plain=''
fi
