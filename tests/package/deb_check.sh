#!/usr/bin/env bash
# package_deb: the Debian package as a distribution would build it (cmake/MtopPackage.cmake):
# configures the source for the prefix /usr in a folder of its own, builds it without tests,
# runs `cpack -G DEB`, then checks the package's contents (programs, libraries, units under
# /lib/systemd/system, configs under /etc/mtop as conffiles, man pages, copyright), extracts
# it and runs the extracted programs, and runs lintian on it (no error allowed; the warnings
# it gives are listed in docs/INSTALL.md). A few minutes: it is a full Release build.
# MTOP_DEB_BUILD_DIR=DIR builds in DIR instead of a temporary folder and keeps it, so that a
# second run rebuilds only what changed (for working on the package by hand).
source "$(dirname "$0")/lib.sh"

command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing (scripts/deps.sh --test)"
command -v lintian >/dev/null || fail "lintian is missing (scripts/deps.sh --test)"
build="${MTOP_DEB_BUILD_DIR:-$work/build-deb}"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
"$CMAKE" -S "$MTOP_SOURCE_DIR" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DMTOP_BUILD_TESTS=OFF -DMTOP_BUILD_BENCH=OFF "${launcher[@]}" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; fail "configure for /usr"; }
"$CMAKE" --build "$build" -j 2 >"$work/build.log" 2>&1 || { tail -50 "$work/build.log" >&2; fail "build"; }
(cd "$build" && rm -f ./*.deb && cpack -G DEB) >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log" >&2; fail "cpack -G DEB"; }
deb="$build/mtop_${MTOP_VERSION}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { cat "$work/cpack.log" >&2; fail "no $(basename "$deb")"; }
pass "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# --- contents --------------------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/files.txt"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for f in /usr/bin/mtop-server /usr/bin/climber \
         "/usr/lib/$multiarch/libmtop.so.$MTOP_ABI_VERSION" "/usr/lib/$multiarch/libmtop_cpp.so.$MTOP_ABI_VERSION" \
         /usr/include/mtop.h /usr/include/mtop/server.hpp "/usr/lib/$multiarch/pkgconfig/mtop.pc" \
         "/usr/lib/$multiarch/cmake/mtop/mtopConfig.cmake" \
         /lib/systemd/system/mtop-server.service /lib/systemd/system/climber.service \
         /lib/systemd/system/climber@.service /usr/lib/sysusers.d/mtop.conf \
         /etc/mtop/server.json /etc/mtop/climber.json /etc/mtop/users.json \
         /usr/share/man/man1/mtop-server.1.gz /usr/share/man/man1/climber.1.gz \
         /usr/share/doc/mtop/copyright /usr/share/doc/mtop/changelog.gz /usr/share/doc/mtop/CONFIG.md; do
  grep -qx "$f" "$work/files.txt" || fail "$f is not in the package"
done
if grep -E '^/usr/(local|etc)/' "$work/files.txt"; then fail "files under /usr/local or /usr/etc"; fi
dpkg-deb -e "$deb" "$work/control"
sort "$work/control/conffiles" >"$work/conffiles"
printf '%s\n' /etc/mtop/climber.json /etc/mtop/server.json /etc/mtop/users.json >"$work/want-conffiles"
diff -u "$work/want-conffiles" "$work/conffiles" || fail "conffiles are not the three configs in /etc/mtop"
for script in postinst prerm postrm; do
  sh -n "$work/control/$script" || fail "$script is not valid sh"
done
grep -q '^Depends:.*libuv1' "$work/control/control" || fail "no dependency on libuv1 (dpkg-shlibdeps)"
pass "contents: programs, libraries, headers, units in /lib/systemd/system, conffiles in /etc/mtop, man pages, docs"

# --- the extracted programs run -------------------------------------------------------------
root="$work/root"
dpkg-deb -x "$deb" "$root"
export LD_LIBRARY_PATH="$root/usr/lib/$multiarch"
for app in mtop-server climber; do
  exe="$root/usr/bin/$app"
  # Outputs are read into variables first: under pipefail, `cmd | grep -q` fails whenever grep
  # stops at its match before cmd has written the rest (cmd dies of SIGPIPE).
  headers=$(objdump -p "$exe")
  if grep -Eq '^ *(RUNPATH|RPATH) ' <<<"$headers"; then fail "$app carries an RPATH (Debian forbids it)"; fi
  [ "$("$exe" --version)" = "$app $MTOP_VERSION" ] || fail "extracted $app --version"
  # The libraries come from the package, not from a build tree.
  libs=$(ldd "$exe")
  grep -q "$root/usr/lib/$multiarch/libmtop_cpp.so.$MTOP_ABI_VERSION" <<<"$libs" ||
    { echo "$libs" >&2; fail "extracted $app does not use the extracted libmtop_cpp"; }
done
"$root/usr/bin/mtop-server" --check --config "$root/etc/mtop/server.json" >"$work/check.txt" 2>&1 ||
  { cat "$work/check.txt" >&2; fail "extracted mtop-server --check of /etc/mtop/server.json"; }
"$root/usr/bin/mtop-server" gen-cert --name localhost --cert "$work/cert.pem" --key "$work/key.pem" \
  >"$work/gen.txt" 2>&1 || { cat "$work/gen.txt" >&2; fail "extracted mtop-server gen-cert"; }
grep -q "BEGIN CERTIFICATE" "$work/cert.pem" || fail "gen-cert wrote no certificate"
pass "extracted programs run with the extracted libraries (--version, --check, gen-cert)"

# --- lintian -----------------------------------------------------------------------------------
lintian --tag-display-limit 0 "$deb" >"$work/lintian.txt" 2>&1 || true
if grep -E '^E: ' "$work/lintian.txt"; then fail "lintian reports errors"; fi
pass "lintian: no error ($(grep -c '^W: ' "$work/lintian.txt" || true) warnings)"
echo "package_deb: all checks passed"
