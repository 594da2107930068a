#!/bin/sh
# Fails if the shared library exports a symbol other than the mtop_* C API (the static core's
# C++ symbols must stay hidden). Type-info of standard exception classes is allowed: it has to
# be visible for exceptions to be matched across libraries, and never crosses the C API.
set -eu
lib="$1"
extra=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(mtop_|_ZT[ISV]St)' || true)
if [ -n "$extra" ]; then
  echo "unexpected exported symbols in $lib:" >&2
  echo "$extra" >&2
  exit 1
fi
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^mtop_')
echo "$lib exports $count mtop_* functions and nothing else"
[ "$count" -gt 0 ]
