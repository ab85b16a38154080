#!/usr/bin/env bash
# Every comparison of issue 16 in one run, and the report:
#   veth            denied traffic on a veth, pps per system, and the rate
#                   each takes without loss from a paced sender
#                   (bench/veth_deny.sh)
#   datapath        ns/packet by scenario, family, hook and rules
#                   (datapath_bench)
#   new_flow_burst  a new allowed flow in a burst, against the least a new
#                   flow costs (datapath_bench --new-flow-burst)
#   new_flow_memory the least a new flow costs by the memory its table
#                   spans (datapath_bench --new-flow-memory)
#   untracked       an uplink's untracked deny against XDP_PASS and a bare
#                   LPM filter, through test_run (untracked_bench)
#   tcp             iperf3, round trip, connections/s through a node
#                   (tcp_paths.sh)
#   apply           the control plane at scale (apply_bench)
#   events          the telemetry pipeline (events_bench)
# then bench/report.py writes the generated section of bench/RESULTS.md
# (between its markers) and the plots in bench/plots/.
#
#   sudo bench/run.sh           # the figures: ~10-15 minutes
#   sudo bench/run.sh --quick   # < 2 minutes, a smoke test of the harness:
#                               # every stage runs, its output parses, the plots
#                               # are PNGs; the report goes to a temporary
#                               # directory, the figures mean nothing
#   sudo bench/run.sh --quick --out DIR   # the same, keeping its report in DIR
#                               # (DIR/RESULTS.md, DIR/plots/*.png) to look at
#
# Binaries come from ZS_BUILD_DIR (default build/; build it first).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=../tests/e2e/lib.sh
source "$root/tests/e2e/lib.sh"
e2e_require_root

quick=0 keep=""
usage() { echo "usage: bench/run.sh [--quick [--out DIR]]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; shift ;;
    --out) [ $# -ge 2 ] || usage; keep=$2; shift 2 ;;
    *) usage ;;
  esac
done
# --out is for --quick: the full run's report is bench/RESULTS.md itself
[ -n "$keep" ] && [ $quick = 0 ] && usage
q=""; [ $quick = 1 ] && q=--quick

build=$(realpath "${ZS_BUILD_DIR:-$root/build}")
for b in userspace/zeroseg bench/datapath_bench bench/untracked_bench bench/apply_bench bench/events_bench bench/tcp_load bench/ring_drain bench/flood; do
  [ -x "$build/$b" ] || { echo "FAIL: $build/$b missing: build first (cmake --build build)" >&2; exit 1; }
done

export ZS_BENCH_TAG=zs-b$(($$ % 10000))
tag=$ZS_BENCH_TAG
run_dir=$(mktemp -d "/tmp/$tag-run.XXXX")
if [ $quick = 1 ]; then
  results=$run_dir/report/RESULTS.md plots=$run_dir/report/plots
  mkdir -p "$run_dir/report" && cp "$here/RESULTS.md" "$results"
else
  results=$here/RESULTS.md plots=$here/plots
fi
cleanup() {
  # the stages clean up after themselves; this catches what a killed one left
  for ns in $(ip netns list | awk '{print $1}' | grep "^$tag-"); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "/sys/fs/bpf/$tag-t" "$run_dir"
}
trap cleanup EXIT

# --quick must not touch the repository's report
repo_report() { cat "$here/RESULTS.md" "$here"/plots/* 2>/dev/null | md5sum; }
report_before=$(repo_report)

stages_json=$run_dir/stages.json
echo "[" >"$stages_json"
# stage NAME SHOWN_COMMAND CMD...: runs CMD (its stdout to NAME.out), records
# the command as a person would type it, the seconds and the exit code
stage() {
  local name=$1 shown=$2; shift 2
  local t0 rc
  echo "== $name: $shown" >&2
  t0=$(date +%s%N)
  "$@" >"$run_dir/$name.out" 2>"$run_dir/$name.err"; rc=$?
  [ $rc = 0 ] || { echo "stage $name exited $rc:" >&2; tail -20 "$run_dir/$name.err" >&2; }
  local secs=$((($(date +%s%N) - t0) / 1000000))e-3
  echo "   $name: $((($(date +%s%N) - t0) / 1000000000)) s, exit $rc" >&2
  [ "$(wc -c <"$stages_json")" -gt 2 ] && echo "," >>"$stages_json"
  python3 -c 'import json,sys; print(json.dumps({"name":sys.argv[1],"command":sys.argv[2],"seconds":float(sys.argv[3]),"rc":int(sys.argv[4])}))' \
    "$name" "$shown" "$secs" "$rc" >>"$stages_json"
  return $rc
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
failed_stages=""
veth=$here/veth_deny.sh
if [ -f "$veth" ]; then
  stage veth "sudo bench/veth_deny.sh${q:+ $q} --json OUT" \
    env BUILD_DIR="$build" bash "$veth" $q --json "$run_dir/veth.jsonl" || failed_stages+=" veth"
else
  echo "== veth: bench/veth_deny.sh is not in this tree: stage not run" >&2
  failed_stages+=" veth(missing)"
fi
stage datapath "sudo build/bench/datapath_bench${q:+ $q} --json OUT" \
  "$build/bench/datapath_bench" $q --json "$run_dir/datapath.jsonl" || failed_stages+=" datapath"
rounds=9; [ $quick = 1 ] && rounds=1
stage new_flow_burst "sudo build/bench/datapath_bench --new-flow-burst $rounds" \
  "$build/bench/datapath_bench" --new-flow-burst $rounds || failed_stages+=" new_flow_burst"
cp "$run_dir/new_flow_burst.out" "$run_dir/new_flow_burst.md"
stage new_flow_memory "sudo build/bench/datapath_bench --new-flow-memory $rounds" \
  "$build/bench/datapath_bench" --new-flow-memory $rounds || failed_stages+=" new_flow_memory"
cp "$run_dir/new_flow_memory.out" "$run_dir/new_flow_memory.md"
rounds=50; [ $quick = 1 ] && rounds=3
stage untracked "sudo build/bench/untracked_bench --rounds $rounds" \
  "$build/bench/untracked_bench" --rounds $rounds || failed_stages+=" untracked"
cp "$run_dir/untracked.out" "$run_dir/untracked.md"
stage tcp "sudo bench/tcp_paths.sh build/userspace/zeroseg build/bench/tcp_load OUT${q:+ $q}" \
  bash "$here/tcp_paths.sh" "$build/userspace/zeroseg" "$build/bench/tcp_load" "$run_dir/tcp.jsonl" $q || failed_stages+=" tcp"
stage apply "sudo build/bench/apply_bench${q:+ $q}" "$build/bench/apply_bench" $q || failed_stages+=" apply"
cp "$run_dir/apply.out" "$run_dir/apply.md"
secs=4; [ $quick = 1 ] && secs=1
stage events "sudo build/bench/events_bench --seconds $secs --log /dev/null" \
  "$build/bench/events_bench" --seconds $secs --log /dev/null || failed_stages+=" events"
cp "$run_dir/events.out" "$run_dir/events.md"
echo "]" >>"$stages_json"

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$run_dir/machine.json" <<EOF
import json, sys
json.dump({"cpu": """$cpu""", "cores": $(nproc), "kernel": "$(uname -r)",
           "commit": "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)",
           "date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "command": "sudo bench/run.sh${q:+ $q}",
           "load_before": "$load_before", "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)"},
          open(sys.argv[1], "w"))
EOF

if [ $quick = 1 ]; then
  echo "== report: bench/report.py -> a temporary copy of RESULTS.md and plots/ (${keep:-removed at the end: --out DIR keeps them})" >&2
else
  echo "== report: bench/report.py -> $results, $plots" >&2
fi
# Debian's python3, which has python3-matplotlib (a python3 earlier on PATH may not)
py=/usr/bin/python3; [ -x $py ] || py=python3
"$py" "$here/report.py" "$run_dir" "$results" "$plots"; report_rc=$?

if [ $quick = 0 ]; then
  [ -z "$failed_stages" ] && [ $report_rc = 0 ] && { echo "bench/run.sh: done: $results, $plots"; exit 0; }
  echo "bench/run.sh: failed:${failed_stages} report exit $report_rc" >&2
  exit 1
fi

# --quick: the harness, not the figures
echo "== checks"
for s in veth datapath new_flow_burst untracked tcp apply events; do
  if [[ " $failed_stages " == *" $s "* || " $failed_stages " == *" $s(missing) "* ]]; then
    fail "stage $s ran and exited 0"
  else
    pass "stage $s ran and exited 0"
  fi
done
for f in veth datapath tcp; do
  if python3 -c 'import json,sys; rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; sys.exit(0 if rows else 1)' \
      "$run_dir/$f.jsonl" 2>/dev/null; then
    pass "$f output parses (JSON lines)"
  else
    fail "$f output parses (JSON lines)"
  fi
done
expect_ok "the report was written" test $report_rc = 0
for p in veth_pps datapath_ns_vs_rules connections tcp_throughput; do
  if [ "$(head -c 8 "$plots/$p.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
    pass "plots/$p.png is a PNG"
  else
    fail "plots/$p.png is a PNG"
  fi
done
if grep -q "bench/run.sh: generated section, begin" "$results" && grep -q "^## Source address validation" "$results"; then
  pass "RESULTS.md: the generated section is in, the hand-written history stays"
else
  fail "RESULTS.md: generated section or history missing"
fi
if [ "$(repo_report)" = "$report_before" ]; then
  pass "bench/RESULTS.md and bench/plots are untouched by --quick"
else
  fail "--quick changed bench/RESULTS.md or bench/plots"
fi
if [ -n "$keep" ]; then
  mkdir -p "$keep/plots" && cp "$results" "$keep/RESULTS.md" && cp "$plots"/*.png "$keep/plots/"
  expect_ok "--out: the report kept in $keep (its figures mean nothing: the harness ran)" test -s "$keep/RESULTS.md"
fi
cleanup
trap - EXIT
e2e_nothing_left "$tag" "/sys/fs/bpf/$tag-t"
e2e_summary
