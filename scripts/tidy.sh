#!/usr/bin/env bash
# Runs clang-tidy (checks in .clang-tidy, tests/.clang-tidy) over our sources and exits non-zero
# when it reports anything. Run by hand, not by CI: the analyser takes minutes per core.
#   scripts/tidy.sh                 libmtop/, bindings/, apps/, bench/, examples/ and tests/
#   scripts/tidy.sh REGEX...        only compile database entries whose path matches a REGEX
#                                   (e.g. 'libmtop/store/' or 'tests/unit/core/')
#   BUILD_DIR   build folder with compile_commands.json (default: build-tidy); it is configured
#               and built first so generated headers exist
#   JOBS        parallel clang-tidy runs and build jobs (default 2)
# Findings are printed once each (a header's finding comes from every file including it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

case "${1:-}" in -h|--help) sed -n '2,10p' "$0"; exit 0 ;; esac

runner=$(command -v run-clang-tidy-14 || command -v run-clang-tidy || true)
tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if [ -z "$runner" ] || [ -z "$tidy" ]; then
  echo "tidy.sh: clang-tidy and run-clang-tidy are needed (Debian: clang-tidy-14)" >&2
  exit 2
fi

build=${BUILD_DIR:-build-tidy}
jobs=${JOBS:-2}
cmake -S . -B "$build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null

if [ $# -eq 0 ]; then
  set -- "$root/(libmtop|bindings|apps|bench|examples|tests)/"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# run-clang-tidy fails when clang-tidy could not analyse a file (a compile error); findings
# alone do not fail it, so they are counted below.
# The compile commands are GCC's: clang must not stop at GCC-only warning options
# (cmake/MtopWarnings.cmake passes -Wno-error=maybe-uninitialized and the like).
"$runner" -clang-tidy-binary "$tidy" -p "$build" -j "$jobs" -quiet \
  -extra-arg=-Wno-unknown-warning-option "$@" >"$log" 2>/dev/null ||
  status=$?

# Colour codes off, then one line per distinct finding, paths relative to the repository.
findings=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^/.*: (warning|error): ' |
           sed "s#^$root/##" | sort -u || true)
if [ -n "$findings" ]; then
  # The full report (code excerpts and notes) for the first findings, then the list.
  sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -v '^clang-tidy' | head -200
  echo
  echo "$findings"
  echo "tidy.sh: $(echo "$findings" | wc -l) finding(s)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -50
  echo "tidy.sh: clang-tidy failed (exit $status)" >&2
  exit 1
fi
echo "tidy.sh: clean"
