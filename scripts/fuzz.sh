#!/usr/bin/env bash
# Fuzz with libFuzzer + ASan + UBSan for SECONDS (default 600) one of
#   check  the front and middle of the compiler (parse, check, lower, IR dump)
#   npy    the runtime's .npy reader
#   image  the runtime's PNG and PGM/PPM readers
#   audio  the runtime's sound reader (libsndfile: WAV, FLAC, Ogg Vorbis)
#   npz    the runtime's .npz reader (libzip)
# chosen by FUZZ_TARGET (default check).
#   [FUZZ_TARGET=check|npy|image|audio|npz] scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
#
# Builds build-fuzz/ with clang-19 and -DCONVC_FUZZ=ON, then fuzzes a copy of
# the target's corpus (tests/fuzz/corpus or corpus-TARGET) in
# build-fuzz/fuzz-run-TARGET/ (the checked-in corpus is never written).
# Afterwards:
#   - new inputs:  build-fuzz/fuzz-run-TARGET/new/      (only those that add
#                  coverage, merged against the checked-in corpus)
#   - crashes:     build-fuzz/fuzz-run-TARGET/artifacts/ (crash-*, leak-*,
#                  timeout-*, oom-*)
# To keep new inputs, copy them into the corpus directory; put a crash's
# reproducer into tests/fuzz/crashes (crashes-TARGET for the readers) so the
# replay test runs it from then on.
# FUZZ_JOBS=N runs N fuzzing processes in parallel (default 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=${FUZZ_TARGET:-check}
case "$target" in
  check) corpus=tests/fuzz/corpus; flags=(-dict="$PWD/tests/fuzz/convc.dict" -max_len=4096) ;;
  npy)   corpus=tests/fuzz/corpus-npy; flags=(-max_len=1024) ;;
  image) corpus=tests/fuzz/corpus-image; flags=(-max_len=8192) ;;
  audio) corpus=tests/fuzz/corpus-audio; flags=(-max_len=8192) ;;
  npz)   corpus=tests/fuzz/corpus-npz; flags=(-max_len=2048) ;;
  *) echo "FUZZ_TARGET must be check, npy, image, audio or npz, not '$target'" >&2; exit 2 ;;
esac

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
cmake --build build-fuzz --target "fuzz_$target"

root=$PWD
fuzzer=$root/build-fuzz/tests/fuzz/fuzz_$target
run=$root/build-fuzz/fuzz-run-$target
rm -rf "$run"
mkdir -p "$run/work" "$run/merged" "$run/new" "$run/artifacts"
cp "$corpus"/* "$run/work/"

echo "fuzz: $target, ${seconds}s, ${jobs} job(s), corpus copy in $run/work"
status=0
(cd "$run" && "$fuzzer" -max_total_time="$seconds" -jobs="$jobs" -workers="$jobs" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${flags[@]}" \
    -artifact_prefix="$run/artifacts/" "$@" "$run/work") || status=$?

# Keep only what adds coverage beyond the checked-in corpus: merge the run's
# corpus into a copy of it (by edges only, as the corpus was minimised);
# whatever is added there is new.
cp "$corpus"/* "$run/merged/"
"$fuzzer" -merge=1 -use_counters=0 "${flags[@]}" "$run/merged" "$run/work" > "$run/merge.log" 2>&1 || true
for f in "$run/merged"/*; do
  [[ -e "$corpus/$(basename "$f")" ]] || mv "$f" "$run/new/"
done

nnew=$(find "$run/new" -type f | wc -l)
ncrash=$(find "$run/artifacts" -type f | wc -l)
echo "fuzz: $nnew new input(s) adding coverage in $run/new"
echo "fuzz: $ncrash crash/leak/timeout reproducer(s) in $run/artifacts"
if [[ $ncrash -gt 0 ]]; then
  ls -l "$run/artifacts"
  echo "fuzz: reproduce with $fuzzer FILE; keep it in ${corpus/corpus/crashes}/" >&2
  exit 1
fi
exit "$status"
