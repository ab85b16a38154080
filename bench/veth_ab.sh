#!/bin/bash
# Two builds of zeroseg on the deny path of bench/veth_deny.sh, alternated
# round by round (A B, then B A: drift hits both alike), and the
# difference read from pairs: each round's B minus its A, in the
# receiver's NAPI CPU per packet (ns/p). This machine is shared and one
# run moves +-10%: a change of 5% needs rounds, not one run of each.
#
# Usage: sudo bench/veth_ab.sh [--rounds N] [--scenario repeated|random]
#                   [--system zeroseg-xdp|zeroseg-xdp-untracked|zeroseg-tc] [--json OUT] DIR_A DIR_B
#   DIR_A, DIR_B: each holds DIR/userspace/zeroseg and DIR/bench/flood: a
#   build directory, or a copy of those two files, e.g. for the build
#   before a change:
#     git worktree add /tmp/base HEAD~1
#     cmake -S /tmp/base -B /tmp/base/build && cmake --build /tmp/base/build --target zeroseg flood
#   Both run under this checkout's veth_deny.sh (its agent config and
#   policy); each side uses its own flood, so keep flood the same.
#   N: an even number of rounds, 2 or more (default 6; a round of both
#   scenarios is ~1 minute).
# Prints, per scenario: each side's mean (min-max) over the rounds, the
# XDP_DROP floor's of the same runs, and B - A: the mean of the rounds'
# differences with a 95% interval (t distribution); an interval that
# holds 0 is no difference these rounds can tell. --json writes every
# run's rows (veth_deny.sh's format, with "side" and "round" added). A
# failed run stops it and keeps every run's output (the path is printed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=6 scenarios='repeated random' system=zeroseg-xdp out=''
while [ $# -gt 2 ]; do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --scenario) scenarios=$2; shift ;;
    --system) system=$2; shift ;;
    --json) out=$2; shift ;;
    *) break ;;
  esac
  shift
done
usage() { echo "usage: veth_ab.sh [--rounds N] [--scenario S] [--system SYS] [--json OUT] DIR_A DIR_B" >&2; exit 2; }
[ $# -eq 2 ] || usage
if ! [[ $rounds =~ ^[0-9]+$ ]] || [ "$rounds" -lt 2 ] || [ $((rounds % 2)) -ne 0 ]; then
  echo "veth_ab.sh: --rounds must be even and 2 or more (A B, then B A)" >&2
  exit 2
fi
case $system in zeroseg-xdp | zeroseg-xdp-untracked | zeroseg-tc) ;; *) echo "veth_ab.sh: --system is zeroseg-xdp, zeroseg-xdp-untracked or zeroseg-tc" >&2; exit 2 ;; esac
case $scenarios in repeated | random | 'repeated random') ;; *) echo "veth_ab.sh: --scenario is repeated or random" >&2; exit 2 ;; esac
[ -z "$out" ] || [ -d "$(dirname "$out")" ] || { echo "veth_ab.sh: no directory for $out" >&2; exit 2; }
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
for d in "$a" "$b"; do
  for f in userspace/zeroseg bench/flood; do
    [ -x "$d/$f" ] || { echo "veth_ab.sh: $d/$f is missing" >&2; exit 1; }
  done
done
work=$(mktemp -d /tmp/zs-ab.XXXX)
keep_or_remove() {
  local rc=$?
  if [ "$rc" = 0 ]; then rm -rf "$work"; else echo "veth_ab.sh: the runs are kept in $work" >&2; fi
}
trap keep_or_remove EXIT
scenario_args=()
[ "$scenarios" = 'repeated random' ] || scenario_args=(--scenario "$scenarios")

for r in $(seq "$rounds"); do
  order="A B"
  [ $((r % 2)) -eq 0 ] && order="B A"
  for side in $order; do
    dir=$a
    [ "$side" = B ] && dir=$b
    echo "veth_ab.sh: round $r/$rounds, $side" >&2
    BUILD_DIR=$dir bash "$here/veth_deny.sh" --json "$work/$r.$side.json" --only "$system" \
      --runs 1 --trials 0 "${scenario_args[@]}" >"$work/$r.$side.log" 2>&1 ||
      { echo "veth_ab.sh: round $r, $side failed ($work/$r.$side.log):" >&2; tail -20 "$work/$r.$side.log" >&2; exit 1; }
  done
done

python3 - "$work" "$rounds" "$system" "$a" "$b" "$out" <<'PY'
import json, math, statistics as st, sys
work, rounds, system, a, b, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], *sys.argv[4:7]
# two-sided 95% t quantiles by degrees of freedom (1-30)
T = [12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
     2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04]
rows, ns = [], {}
for r in range(1, rounds + 1):
    for side in "AB":
        for line in open(f"{work}/{r}.{side}.json"):
            if not line.strip():
                continue
            row = json.loads(line)
            row.update(side=side, round=r)
            rows.append(row)
            if not row["runs_busy_ns"] or row["runs_busy_ns"][0] is None:
                sys.exit(f"veth_ab.sh: round {r}, {side}: no CPU figure for {row['system']} {row['scenario']}")
            ns.setdefault((row["scenario"], row["system"], side), {})[r] = row["runs_busy_ns"][0]
if out:
    with open(out, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
print(f"A: {a}\nB: {b}\n{system}, {rounds} rounds; ns/p: the receiver's NAPI CPU per packet\n")
fmt = "{:<10} {:<22} {:<22} {:<18} {:<18} {}"
print(fmt.format("scenario", "A ns/p", "B ns/p", "floor, A's runs", "floor, B's runs", "B - A (95% interval)"))
def cell(v):
    return f"{st.mean(v):.0f} ({min(v):.0f}-{max(v):.0f})"
shown = 0
for scenario in ("repeated", "random"):
    if (scenario, system, "A") not in ns:
        continue
    shown += 1
    sa, sb = ns[(scenario, system, "A")], ns[(scenario, system, "B")]
    fa, fb = ns[(scenario, "xdp-drop", "A")], ns[(scenario, "xdp-drop", "B")]
    d = [sb[r] - sa[r] for r in sorted(sa)]
    m = st.mean(d)
    half = T[min(len(d) - 2, len(T) - 1)] * st.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("inf")
    print(fmt.format(scenario, cell(list(sa.values())), cell(list(sb.values())), cell(list(fa.values())),
                     cell(list(fb.values())), f"{m:+.0f} ({m - half:+.0f} to {m + half:+.0f}), {m / st.mean(sa.values()):+.1%}"))
if not shown:
    sys.exit(f"veth_ab.sh: no row of {system} in the runs")
PY
