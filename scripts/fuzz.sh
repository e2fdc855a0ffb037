#!/usr/bin/env bash
# Fuzz the front and middle of the compiler (parse, check, lower, IR dump)
# with libFuzzer + ASan + UBSan for SECONDS (default 600).
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
#
# Builds build-fuzz/ with clang-19 and -DCONVC_FUZZ=ON, then fuzzes a copy of
# tests/fuzz/corpus in build-fuzz/fuzz-run/ (the checked-in corpus is never
# written).  Afterwards:
#   - new inputs:  build-fuzz/fuzz-run/new/      (only those that add coverage,
#                  merged against the checked-in corpus)
#   - crashes:     build-fuzz/fuzz-run/artifacts/ (crash-*, leak-*, timeout-*, oom-*)
# To keep new inputs, copy them into tests/fuzz/corpus/; put a crash's
# reproducer into tests/fuzz/crashes/ so fuzz.replay runs it from then on.
# FUZZ_JOBS=N runs N fuzzing processes in parallel (default 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-600}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [libFuzzer flags...]" >&2
  exit 2
fi
jobs=${FUZZ_JOBS:-1}

scripts/setup.sh
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang-19 -DCONVC_FUZZ=ON
cmake --build build-fuzz --target fuzz_check

root=$PWD
fuzzer=$root/build-fuzz/tests/fuzz/fuzz_check
run=$root/build-fuzz/fuzz-run
rm -rf "$run"
mkdir -p "$run/work" "$run/merged" "$run/new" "$run/artifacts"
cp tests/fuzz/corpus/* "$run/work/"

echo "fuzz: ${seconds}s, ${jobs} job(s), corpus copy in $run/work"
status=0
(cd "$run" && "$fuzzer" -max_total_time="$seconds" -jobs="$jobs" -workers="$jobs" \
    -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    -dict="$root/tests/fuzz/convc.dict" -artifact_prefix="$run/artifacts/" \
    "$@" "$run/work") || status=$?

# Keep only what adds coverage beyond the checked-in corpus: merge the run's
# corpus into a copy of it (by edges only, as the corpus was minimised);
# whatever is added there is new.
cp tests/fuzz/corpus/* "$run/merged/"
"$fuzzer" -merge=1 -use_counters=0 -max_len=4096 "$run/merged" "$run/work" > "$run/merge.log" 2>&1 || true
for f in "$run/merged"/*; do
  [[ -e "tests/fuzz/corpus/$(basename "$f")" ]] || mv "$f" "$run/new/"
done

nnew=$(find "$run/new" -type f | wc -l)
ncrash=$(find "$run/artifacts" -type f | wc -l)
echo "fuzz: $nnew new input(s) adding coverage in $run/new"
echo "fuzz: $ncrash crash/leak/timeout reproducer(s) in $run/artifacts"
if [[ $ncrash -gt 0 ]]; then
  ls -l "$run/artifacts"
  echo "fuzz: reproduce with $fuzzer FILE; keep it in tests/fuzz/crashes/" >&2
  exit 1
fi
exit "$status"
