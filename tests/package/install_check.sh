#!/usr/bin/env bash
# package_install: installs the current build into a temporary prefix and checks what a user
# gets there (docs/INSTALL.md): the headers, libmtop.so.N and libmtop_cpp.so.N with their
# SONAMEs and links, what they export, the CMake package, the pkg-config files, that every
# installed header compiles alone from the installed include folder without OpenSSL, GnuTLS,
# ngtcp2 or an internal header, and that the installed programs run.
source "$(dirname "$0")/lib.sh"
install_build

# --- headers ---------------------------------------------------------------------------
[ -f "$includedir/mtop.h" ] || fail "mtop.h is not in <includedir>"
for src in "$MTOP_SOURCE_DIR"/include/mtop/*.hpp; do
  [ -f "$includedir/mtop/$(basename "$src")" ] || fail "include/mtop/$(basename "$src") not installed"
done
extra=$(cd "$includedir" && find . -type f ! -name mtop.h ! -path './mtop/*.hpp')
[ -z "$extra" ] || fail "unexpected files in <includedir>: $extra"
pass "headers: mtop.h and $(find "$includedir/mtop" -name '*.hpp' | wc -l) in mtop/"

# --- libraries: file names, links, SONAME --------------------------------------------------
for lib in mtop mtop_cpp; do
  so="$libdir/lib$lib.so"
  [ "$(readlink "$so")" = "lib$lib.so.$MTOP_ABI_VERSION" ] || fail "lib$lib.so is not a link to lib$lib.so.$MTOP_ABI_VERSION"
  [ "$(readlink "$so.$MTOP_ABI_VERSION")" = "lib$lib.so.$MTOP_VERSION" ] || fail "lib$lib.so.$MTOP_ABI_VERSION is not a link to lib$lib.so.$MTOP_VERSION"
  if [ ! -f "$so.$MTOP_VERSION" ] || [ -L "$so.$MTOP_VERSION" ]; then
    fail "lib$lib.so.$MTOP_VERSION is not a file"
  fi
  soname=$(objdump -p "$so.$MTOP_ABI_VERSION" | awk '$1 == "SONAME" {print $2}')
  [ "$soname" = "lib$lib.so.$MTOP_ABI_VERSION" ] || fail "SONAME of lib$lib.so is '$soname'"
  pass "lib$lib.so -> lib$lib.so.$MTOP_ABI_VERSION -> lib$lib.so.$MTOP_VERSION, SONAME $soname"
done
dyn=$(objdump -p "$libdir/libmtop.so.$MTOP_ABI_VERSION")
grep -Eq "NEEDED +libmtop_cpp\.so\.$MTOP_ABI_VERSION\$" <<<"$dyn" || fail "libmtop.so does not need libmtop_cpp.so.$MTOP_ABI_VERSION"
# shellcheck disable=SC2016  # a literal $ORIGIN
grep -Eq '(RUNPATH|RPATH) +\$ORIGIN$' <<<"$dyn" || fail "libmtop.so has no RUNPATH \$ORIGIN"
pass "libmtop.so needs libmtop_cpp.so.$MTOP_ABI_VERSION and finds it next to itself (\$ORIGIN)"

# --- exports ---------------------------------------------------------------------------------
"$MTOP_SOURCE_DIR/examples/check_exports.sh" "$libdir/libmtop.so.$MTOP_ABI_VERSION"
# ... and those mtop_* are exactly the functions the installed mtop.h declares MTOP_API.
# (Comments and preprocessor lines dropped; a name may be in parentheses: int(mtop_x)(...).)
declared=$(perl -0777 -ne 's{/\*.*?\*/}{}gs; s{^\s*#.*$}{}mg;
                          print "$1\n" while /\bMTOP_API\b[^;]*?\(?\b(mtop_[a-z0-9_]+)\)?\s*\(/g' \
           "$includedir/mtop.h" | sort -u)
defined=$(nm -D --defined-only "$libdir/libmtop.so.$MTOP_ABI_VERSION" | awk '$3 ~ /^mtop_/ {print $3}' | sort -u)
if [ "$declared" != "$defined" ]; then
  diff <(echo "$declared") <(echo "$defined") >&2 || true
  fail "libmtop.so's mtop_* symbols (>) differ from mtop.h's MTOP_API declarations (<)"
fi
pass "libmtop.so exports exactly the $(wc -l <<<"$defined") MTOP_API functions of mtop.h"
# libmtop_cpp.so: every exported mtop:: symbol belongs to a name the installed headers declare
# (MTOP_CPP_API); the rest are the standard library's template instances, which C++ shares.
headers_text=$(cat "$includedir"/mtop/*.hpp)
exported=$(nm -D --defined-only "$libdir/libmtop_cpp.so.$MTOP_ABI_VERSION" | awk '{print $3}')
foreign=$(grep -Ev '^(_ZN4mtop|_ZNK4mtop|_ZT[ISV]N4mtop|_ZSt|_ZNSt|_ZNKSt|_ZT[ISV]St|_ZT[ISV]NSt|_ZN9__gnu_cxx|_ZNK9__gnu_cxx|_ZGVZN|_ZZN)' <<<"$exported" || true)
[ -z "$foreign" ] || fail "libmtop_cpp.so exports symbols outside mtop:: and std::: $(head -5 <<<"$foreign")"
undeclared=""
count=0
while read -r sym; do
  count=$((count + 1))
  name=$(c++filt <<<"$sym" | sed -E 's/^(typeinfo|typeinfo name|vtable|VTT) for //; s/\(.*//; s/\[abi:[a-z0-9]+\]//g; s/<.*//')
  name=${name#mtop::}
  # The first component that is not a namespace declared in the headers (socks5::, http::).
  IFS=: read -r -a parts <<<"${name//::/:}"
  for part in "${parts[@]}"; do
    [ -n "$part" ] || continue
    grep -Eq "namespace mtop::$part\b" <<<"$headers_text" && continue
    grep -Eq "\b$part\b" <<<"$headers_text" || undeclared+="$(c++filt <<<"$sym")"$'\n'
    break
  done
done < <(grep -E '^(_ZN4mtop|_ZNK4mtop|_ZT[ISV]N4mtop)' <<<"$exported")
[ -z "$undeclared" ] || fail "libmtop_cpp.so exports names no installed header declares:"$'\n'"$undeclared"
[ "$count" -gt 0 ] || fail "libmtop_cpp.so exports no mtop:: symbol"
pass "libmtop_cpp.so exports $count mtop:: symbols, all declared in include/mtop/"

# --- CMake package and pkg-config files ---------------------------------------------------
cmakedir="$libdir/cmake/mtop"
for f in mtopConfig.cmake mtopConfigVersion.cmake mtopTargets.cmake; do
  [ -f "$cmakedir/$f" ] || fail "$f is not in <libdir>/cmake/mtop"
done
ls "$cmakedir"/mtopTargets-*.cmake >/dev/null 2>&1 || fail "no mtopTargets-<config>.cmake"
pass "CMake package in <libdir>/cmake/mtop"
for name in mtop mtop_cpp; do
  [ -f "$libdir/pkgconfig/$name.pc" ] || fail "$name.pc is not in <libdir>/pkgconfig"
  [ "$(pc --modversion "$name")" = "$MTOP_VERSION" ] || fail "$name.pc version"
  [ "$(pc --variable=prefix "$name")" = "$prefix" ] || fail "$name.pc prefix is $(pc --variable=prefix "$name")"
done
[ "$(pc --cflags mtop)" = "-I$includedir" ] || fail "pkg-config --cflags mtop: $(pc --cflags mtop)"
[ "$(pc --libs mtop)" = "-L$libdir -lmtop" ] || fail "pkg-config --libs mtop: $(pc --libs mtop)"
pc --libs mtop_cpp | grep -E -- "-L$libdir -lmtop_cpp" >/dev/null || fail "pkg-config --libs mtop_cpp: $(pc --libs mtop_cpp)"
if [ "$MTOP_WITH_LIBUV" = 1 ]; then
  pc --print-requires mtop_cpp | grep '^libuv' >/dev/null || fail "mtop_cpp.pc does not require libuv"
  pc --libs mtop_cpp | grep -- '-luv' >/dev/null || fail "pkg-config --libs mtop_cpp has no -luv"
fi
pass "mtop.pc and mtop_cpp.pc: prefix $prefix, $(pc --cflags --libs mtop_cpp)"

# --- every installed header compiles alone, from the installed folder only ----------------
# -H lists every header a translation unit opens: none may be a TLS/QUIC/database library's or
# come from the source or build tree.
uv_cflags=""
if [ "$MTOP_WITH_LIBUV" = 1 ]; then uv_cflags=$("$PKG_CONFIG" --cflags libuv); fi
forbidden='/(openssl|gnutls|ngtcp2|nghttp3|nlohmann|mysql|mariadb|postgresql)/|/(sqlite3|libpq-fe)\.h$'
check_opened() {  # $1: what was compiled, $2: the -H output
  local opened
  opened=$(sed -nE 's/^\.+ //p' "$2")
  if grep -Eq "$forbidden" <<<"$opened"; then fail "$1 includes $(grep -E "$forbidden" <<<"$opened" | head -3)"; fi
  if grep -Fq "$MTOP_SOURCE_DIR/" <<<"$opened" || grep -Fq "$MTOP_BUILD_DIR/" <<<"$opened"; then
    fail "$1 opens a file of the source or build tree"
  fi
}
cd "$work"
n=0
for header in "$includedir"/mtop/*.hpp; do
  rel=mtop/$(basename "$header")
  printf '#include <%s>\n' "$rel" >tu.cpp
  # shellcheck disable=SC2086
  "$CXX" -std=c++20 -fsyntax-only -H -Wall -Wextra -Werror -I"$includedir" $uv_cflags tu.cpp 2>opened.txt ||
    { cat opened.txt >&2; fail "$rel does not compile alone"; }
  check_opened "$rel" opened.txt
  n=$((n + 1))
done
printf '#include <mtop.h>\n' >tu.c
"$CC" -std=c11 -pedantic-errors -fsyntax-only -H -Wall -Wextra -Werror -I"$includedir" tu.c 2>opened.txt ||
  { cat opened.txt >&2; fail "mtop.h does not compile alone as C11"; }
check_opened mtop.h opened.txt
pass "$n C++ headers and mtop.h compile alone with -I<includedir> $uv_cflags only"

# --- the programs run from the prefix --------------------------------------------------------
for app in $MTOP_APPS; do
  exe="$bindir/$app"
  [ -x "$exe" ] || fail "$app is not in <bindir>"
  rpath=$(objdump -p "$exe" | awk '$1 == "RUNPATH" || $1 == "RPATH" {print $2}')
  # shellcheck disable=SC2016  # a literal $ORIGIN
  case "$rpath" in
    *'$ORIGIN/'*) ;;
    *) fail "$app has no \$ORIGIN-relative RUNPATH (it is '$rpath')" ;;
  esac
  "$exe" --help >"$work/help.txt" 2>&1 || { cat "$work/help.txt" >&2; fail "installed $app --help"; }
  pass "$app runs from <bindir> (RUNPATH $rpath)"
done
echo "package_install: all checks passed"
