#!/usr/bin/env bash
# Set up, configure, build and run every test.
#   scripts/test.sh                 -> build/, RelWithDebInfo
#   scripts/test.sh --sanitize      -> build-asan/, with AddressSanitizer + UBSan
# Any other arguments go to ctest, e.g. scripts/test.sh -R conformance
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=build
cmake_args=()
ctest_args=()
for arg in "$@"; do
  case "$arg" in
    --sanitize) build="build-asan"; cmake_args+=(-DCONVC_SANITIZE=ON) ;;
    *) ctest_args+=("$arg") ;;
  esac
done

scripts/setup.sh
# The pipelines the tests run are cached in the build tree, not in the
# user's ~/.cache (tests/cli/test_cache.py uses caches of its own).
export XDG_CACHE_HOME="$PWD/$build/test-cache"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}"
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure -j2 "${ctest_args[@]}"
