#!/usr/bin/env bash
# Fails if a program in apps/ includes a quoted header that is neither in its own folder (or
# apps/common, what both programs share) nor an installed public header (include/mtop/*.hpp):
# the apps are built on the public C++ API only, so that what they need is what an embedding
# program gets too. (They link only mtop_api,
# whose interface is include/, so a private include also fails to compile; this test names the
# file and the line.)
#   check_app_headers.sh SOURCE_DIR
set -euo pipefail
root=${1:?usage: check_app_headers.sh SOURCE_DIR}
bad=0
while IFS= read -r -d '' file; do
  dir=$(dirname "$file")
  while IFS=: read -r line header; do
    if [ -f "$dir/$header" ] || [ -f "$root/apps/common/$header" ]; then continue; fi
    case "$header" in
      mtop/*/*) ;;  # a sub-folder of include/mtop is not installed
      mtop/*.hpp) [ -f "$root/include/$header" ] && continue ;;
    esac
    echo "${file#"$root"/}:$line: includes \"$header\", which is neither in its own folder nor a public header (include/mtop/*.hpp)" >&2
    bad=1
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
           sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1:\2/')
done < <(find "$root/apps" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cc' \) -print0)
if [ "$bad" -ne 0 ]; then exit 1; fi
echo "apps include only their own headers and include/mtop/*.hpp"
