#!/usr/bin/env bash
# package_subproject: configures a project that adds libmtop with add_subdirectory(), without
# Catch2 or CLI11 available, and checks what a parent project gets: the mtop::mtop and
# mtop::mtop_cpp targets, no tests, no bench, no programs, and its own (empty) build type.
# Configure only (a build from scratch would take minutes); the libraries themselves are
# built and used by package_consumers.
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
cp -r "$here/consumer_subdir" "$here/consumer_cmake" "$work/"
src="$work/consumer_subdir"
if ! "$CMAKE" -S "$src" -B "$src/build" -DMTOP_SOURCE_DIR="$MTOP_SOURCE_DIR" \
     -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
     -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON \
     >"$work/cmake.log" 2>&1; then
  cat "$work/cmake.log" >&2
  fail "configuring a project that does add_subdirectory(mtop) without Catch2 and CLI11"
fi
cache="$src/build/CMakeCache.txt"
value() { sed -n "s/^$1:[A-Z]*=//p" "$cache"; }
[ "$(value MTOP_BUILD_TESTS)" = OFF ] || fail "MTOP_BUILD_TESTS defaults to $(value MTOP_BUILD_TESTS) in a sub-project"
[ "$(value MTOP_BUILD_BENCH)" = OFF ] || fail "MTOP_BUILD_BENCH defaults to $(value MTOP_BUILD_BENCH) in a sub-project"
[ -z "$(value CMAKE_BUILD_TYPE)" ] || fail "the sub-project forced CMAKE_BUILD_TYPE=$(value CMAKE_BUILD_TYPE)"
[ ! -e "$src/build/mtop/tests" ] || fail "tests were configured in a sub-project"
[ ! -e "$src/build/mtop/apps" ] || fail "programs were configured although MTOP_BUILD_APPS is OFF"
grep -q 'libmtop_cpp.so' "$src/build/CMakeFiles/consumer.dir/link.txt" ||
  fail "the consumer does not link libmtop_cpp.so"
pass "add_subdirectory(mtop): mtop::mtop and mtop::mtop_cpp, no tests, bench or programs, no forced build type"
