#!/usr/bin/env bash
# Installs what is missing (Debian 12), builds everything with the tests, runs a short fuzz
# pass when clang is present, then runs ctest. Exit code: non-zero on any failure.
#   BUILD_DIR   build folder (default: build)
#   FUZZ_SECONDS seconds per fuzz target in the smoke pass (default 20; 0 skips it)
#   MTOP_CMAKE_ARGS extra arguments for cmake (e.g. -DMTOP_SANITIZE=ON)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh --test

build=${BUILD_DIR:-build}
jobs=$(nproc)
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${MTOP_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$jobs"

fuzz_seconds=${FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ] && command -v clang++ >/dev/null; then
  FUZZ_SECONDS=$fuzz_seconds scripts/fuzz.sh --smoke
fi

cd "$build"
# ctest's summary line ("100% tests passed, 0 tests failed out of N") is the last thing printed.
ctest --output-on-failure -j "$jobs" --timeout 600
