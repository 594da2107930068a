#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each of them.
#   scripts/fuzz.sh                 each target until RUNS inputs (default 1,000,000)
#   scripts/fuzz.sh --smoke         each target for FUZZ_SECONDS seconds (default 20)
#   scripts/fuzz.sh TARGET...       only those (names as in tests/fuzz/fuzz_<name>.cpp)
# New findings land in tests/fuzz/findings/ (git-ignored); the run fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=runs
targets=()
for arg in "$@"; do
  case "$arg" in
    --smoke) mode=time ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) targets+=("$arg") ;;
  esac
done

build=${FUZZ_BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$build" -DMTOP_FUZZ=ON -DMTOP_CORE_ONLY=ON \
  -DMTOP_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [ ${#targets[@]} -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.cpp; do
    name=$(basename "$src" .cpp); targets+=("${name#fuzz_}")
  done
fi
cmake --build "$build" -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

mkdir -p tests/fuzz/findings
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$t/." "$work/"
  if [ "$mode" = time ]; then
    limit=(-max_total_time="${FUZZ_SECONDS:-20}")
  else
    limit=(-runs="${RUNS:-1000000}")
  fi
  echo "== fuzz_$t ${limit[*]}"
  if ! "$build/tests/fuzz/fuzz_$t" "${limit[@]}" -max_len=2048 \
        -artifact_prefix="tests/fuzz/findings/$t-" "$work" 2>"$work.log"; then
    tail -n 40 "$work.log"; rm -rf "$work" "$work.log"
    echo "fuzz_$t: FINDING (see tests/fuzz/findings/)" >&2
    exit 1
  fi
  grep -E '^(#[0-9]+\s+DONE|Done [0-9]+ runs)' "$work.log" | tail -n 1 || tail -n 2 "$work.log"
  rm -rf "$work" "$work.log"
done
