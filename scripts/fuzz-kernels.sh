#!/usr/bin/env bash
# Long kernel run: tests/kernels/kernels.py --many over seed after seed until
# the time is up, and a summary of the failures at the end.  Not part of ctest.
#
#   scripts/fuzz-kernels.sh [-t SECONDS] [-j JOBS] [-s FIRST_SEED] [-n PIPELINES_PER_SEED]
#                           [-k KEEP_DIR] [-c CONVC]
#
# Defaults: 600 s, 2 jobs, a seed from the clock, 10 random pipelines per seed,
# failures kept in out/fuzz-kernels/, build/convc.
# Each pipeline is run with and without kernels on the native CPU and on
# x86-64-v3; every failing unit is printed as a script with its command lines
# and saved with a repro.sh (replay one seed: kernels.py CONVC --many N --seed S).
# Exit 1 if any pipeline failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=600 jobs=2 seed=$(( $(date +%s) % 1000000 )) per=10
keep=out/fuzz-kernels convc=build/convc python=/usr/bin/python3
while getopts "t:j:s:n:k:c:h" o; do
  case "$o" in
    t) secs=$OPTARG ;; j) jobs=$OPTARG ;; s) seed=$OPTARG ;; n) per=$OPTARG ;;
    k) keep=$OPTARG ;; c) convc=$OPTARG ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[ -x "$convc" ] || { echo "fuzz-kernels: no convc at $convc (build first)" >&2; exit 2; }
mkdir -p "$keep"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-kernels.XXXXXX")
# Run a copy, so that a rebuild during the run does not show up as failures.
cp "$convc" "$logdir/convc" && convc=$logdir/convc
end=$(( $(date +%s) + secs ))
echo "fuzz-kernels: $secs s, $jobs jobs, seeds from $seed, $per pipelines/seed, keep $keep"

worker() {   # worker INDEX: seeds INDEX, INDEX+jobs, ... after the first seed
  local s=$(( seed + $1 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    "$python" tests/kernels/kernels.py "$convc" --many "$per" --seed "$s" \
        --keep "$keep" > "$logdir/seed-$s.log" 2>&1
    s=$(( s + jobs ))
  done
}
pids=()
for ((i = 0; i < jobs; i++)); do worker "$i" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done

pipes=0 stages=0 passed=0 failed=0 seeds=0
for f in "$logdir"/seed-*.log; do
  [ -e "$f" ] || continue
  seeds=$((seeds + 1))
  last=$(tail -n 1 "$f")
  if [[ $last =~ ^([0-9]+)\ pipelines\ \(([0-9]+)\ stages\):\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    pipes=$((pipes + BASH_REMATCH[1])); stages=$((stages + BASH_REMATCH[2]))
    passed=$((passed + BASH_REMATCH[3])); failed=$((failed + BASH_REMATCH[4]))
  else
    failed=$((failed + 1)); echo "== $(basename "$f" .log): kernels.py did not finish: $last"
  fi
  grep -q '^FAIL' "$f" && { echo "== $(basename "$f" .log)"; grep -v '^#\|pipelines (.* stages)' "$f"; }
done
rm -rf "$logdir"
echo "fuzz-kernels: $seeds seeds, $pipes pipelines, $stages kernel stages; $passed passed, $failed failed"
[ "$failed" -eq 0 ] || echo "fuzz-kernels: failing units are in $keep/"
[ "$failed" -eq 0 ]
