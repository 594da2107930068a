#!/usr/bin/env bash
# Fails unless the shared build of the core needs only the C++ runtime and what it brings
# (libstdc++, libm, libgcc_s, libc, the loader; and the sanitizer runtimes in sanitized builds).
set -euo pipefail
lib=$1
dump=$(objdump -p "$lib")
grep -q 'Dynamic Section' <<<"$dump" || { echo "objdump could not read $lib" >&2; exit 1; }
needed=$(awk '/NEEDED/ {print $2}' <<<"$dump")
echo "NEEDED by $(basename "$lib"):"; echo "$needed"
bad=$(echo "$needed" | grep -Ev '^(libstdc\+\+\.so|libm\.so|libgcc_s\.so|libc\.so|ld-linux|libasan\.so|libubsan\.so)' || true)
if [ -n "$bad" ]; then
  echo "core links against more than the C++ runtime: $bad" >&2
  exit 1
fi
