#!/usr/bin/env bash
# package_consumers: installs the current build into a temporary prefix, copies the two
# consumer projects out of the source tree and builds each against that prefix only, the way
# docs/INSTALL.md shows, then runs their programs (which assert their results):
#   consumer_cmake      find_package(mtop CONFIG REQUIRED), mtop::mtop + mtop::mtop_cpp
#   consumer_pkgconfig  pkg-config --cflags --libs mtop mtop_cpp (and mtop alone)
# Both also embed a server (with their own user check) and climbers, and fetch bytes from an
# echo service on loopback through tunnels over TLS and QUIC: the C++ one through
# include/mtop/server.hpp + climber.hpp, the C one through mtop.h.
source "$(dirname "$0")/lib.sh"
install_build
here=$(cd "$(dirname "$0")" && pwd)
cp -r "$here/consumer_cmake" "$here/consumer_pkgconfig" "$work/"

# --- the embedding parts: an embedded server and climbers on loopback ----------------------
# A self-signed certificate for localhost / 127.0.0.1, the shape `mtop-server gen-cert` makes.
cat >"$work/cert.cnf" <<'CNF'
[req]
distinguished_name = dn
x509_extensions = ext
prompt = no
[dn]
CN = localhost
[ext]
subjectAltName = DNS:localhost,IP:127.0.0.1
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
openssl req -x509 -config "$work/cert.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 >"$work/openssl.log" 2>&1 ||
  { cat "$work/openssl.log" >&2; fail "openssl req"; }
pki=("$work/cert.pem" "$work/key.pem")
# The C++ part needs mtop::Server and mtop::Climber in libmtop_cpp.so (not in an
# MTOP_CORE_ONLY build); without them it is only compiled against the installed headers. The
# C part asks the library and reports MTOP_ERR_NOT_BUILT_IN itself.
src="$work/consumer_cmake"
embedding=OFF
# The symbols are read into a variable first: under pipefail, `nm | grep -q` is false whenever
# grep stops at its match before nm has written the rest (nm dies of SIGPIPE).
symbols=$(nm -D --defined-only "$libdir/libmtop_cpp.so.$MTOP_ABI_VERSION")
if grep -q '_ZN4mtop6Server6create' <<<"$symbols" && grep -q '_ZN4mtop7Climber6create' <<<"$symbols"; then
  embedding=ON
else
  uv_cflags=$("$PKG_CONFIG" --cflags libuv)
  # shellcheck disable=SC2086
  "$CXX" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I"$includedir" $uv_cflags \
    "$src/embedding.cpp" || fail "consumer_cmake/embedding.cpp does not compile against the installed headers"
  echo "NOTE: libmtop_cpp.so has no mtop::Server / mtop::Climber: consumer_cmake/embedding.cpp" \
       "was compiled against the installed headers, not run"
fi

# --- CMake: nothing but CMAKE_PREFIX_PATH points at us ------------------------------------
if ! "$CMAKE" -S "$src" -B "$src/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
     -DMTOP_CONSUMER_EMBEDDING="$embedding" \
     -DCMAKE_CXX_FLAGS="$MTOP_SANITIZER_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$MTOP_SANITIZER_FLAGS" \
     >"$work/cmake.log" 2>&1; then
  cat "$work/cmake.log" >&2
  fail "configuring consumer_cmake"
fi
found=$(sed -n 's/^mtop_DIR:PATH=//p' "$src/build/CMakeCache.txt")
[ "$found" = "$libdir/cmake/mtop" ] || fail "consumer_cmake found mtop in '$found', not in the prefix"
"$CMAKE" --build "$src/build" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "building consumer_cmake"; }
if [ "$embedding" = ON ]; then
  "$src/build/consumer" "${pki[@]}" || fail "consumer_cmake's program"
else
  "$src/build/consumer" || fail "consumer_cmake's program"
fi
pass "consumer_cmake: find_package(mtop) from $found, built and ran (embedding: $embedding)"

# --- pkg-config + make --------------------------------------------------------------------
src="$work/consumer_pkgconfig"
if ! CFLAGS="-O2 $MTOP_SANITIZER_FLAGS" LDFLAGS="$MTOP_SANITIZER_FLAGS" \
     PKG_CONFIG_PATH="$libdir/pkgconfig" make -C "$src" CC="$CC" PKG_CONFIG="$PKG_CONFIG" all \
     >"$work/make.log" 2>&1; then
  cat "$work/make.log" >&2
  fail "building consumer_pkgconfig"
fi
grep -q -- "-I$includedir" "$work/make.log" || fail "consumer_pkgconfig was not compiled with the prefix's flags"
"$src/consumer" "${pki[@]}" || fail "consumer_pkgconfig's program"
"$src/consumer_c_only" || fail "consumer_pkgconfig's program linked with mtop.pc alone"
pass "consumer_pkgconfig: built with pkg-config from $libdir/pkgconfig and ran"
echo "package_consumers: all checks passed"
