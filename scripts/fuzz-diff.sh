#!/usr/bin/env bash
# Long differential run: tests/differential/diff.py over seed after seed until
# the time is up, and a summary of the failures at the end.  Not part of ctest.
#
#   scripts/fuzz-diff.sh [-t SECONDS] [-j JOBS] [-s FIRST_SEED] [-n CASES_PER_SEED]
#                        [-f FAMILY] [-k KEEP_DIR] [-c CONVC]
#
# Defaults: 600 s, 2 jobs, a seed from the clock, 25 cases per family per seed,
# every family, failures kept in out/fuzz-diff/, build/convc.
# Every failure is printed with its script and saved in the conformance layout
# (replay: tests/conformance/run.py build/convc KEEP_DIR, or diff.py --only).
# Exit 1 if any case failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=600 jobs=2 seed=$(( $(date +%s) % 1000000 )) cases=25 family=all
keep=out/fuzz-diff convc=build/convc python=/usr/bin/python3
while getopts "t:j:s:n:f:k:c:h" o; do
  case "$o" in
    t) secs=$OPTARG ;; j) jobs=$OPTARG ;; s) seed=$OPTARG ;; n) cases=$OPTARG ;;
    f) family=$OPTARG ;; k) keep=$OPTARG ;; c) convc=$OPTARG ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[ -x "$convc" ] || { echo "fuzz-diff: no convc at $convc (build first)" >&2; exit 2; }
mkdir -p "$keep"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-diff.XXXXXX")
# Run a copy, so that a rebuild during the run does not show up as failures.
cp "$convc" "$logdir/convc" && convc=$logdir/convc
end=$(( $(date +%s) + secs ))
echo "fuzz-diff: $secs s, $jobs jobs, seeds from $seed, $cases cases/family/seed, family $family, keep $keep"

worker() {   # worker INDEX: seeds INDEX, INDEX+jobs, ... after the first seed
  local s=$(( seed + $1 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    "$python" tests/differential/diff.py "$convc" --seed "$s" --cases "$cases" \
        --family "$family" --keep "$keep" > "$logdir/seed-$s.log" 2>&1
    s=$(( s + jobs ))
  done
}
pids=()
for ((i = 0; i < jobs; i++)); do worker "$i" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done

passed=0 failed=0 seeds=0
for f in "$logdir"/seed-*.log; do
  [ -e "$f" ] || continue
  seeds=$((seeds + 1))
  last=$(tail -n 1 "$f")
  if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
  else
    failed=$((failed + 1)); echo "== $(basename "$f" .log): diff.py did not finish: $last"
  fi
  grep -q '^FAIL\|^ERROR' "$f" && { echo "== $(basename "$f" .log)"; grep -v 'passed, .* failed$' "$f"; }
done
rm -rf "$logdir"
echo "fuzz-diff: $seeds seeds; $passed passed, $failed failed"
[ "$failed" -eq 0 ] || echo "fuzz-diff: failing cases are in $keep/"
[ "$failed" -eq 0 ]
