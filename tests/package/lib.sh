# shellcheck shell=bash
# Shared by the package tests (sourced). ctest sets the environment (tests/package/CMakeLists.txt):
#   MTOP_SOURCE_DIR, MTOP_BUILD_DIR         the source tree and the build to install
#   MTOP_LIBDIR, MTOP_INCLUDEDIR, MTOP_BINDIR   GNUInstallDirs, relative to the prefix
#   MTOP_VERSION, MTOP_ABI_VERSION          e.g. 0.1.0 and 0
#   MTOP_APPS                               the programs that are installed (space-separated)
#   MTOP_WITH_LIBUV                         1 unless MTOP_CORE_ONLY
#   CC, CXX, CMAKE, PKG_CONFIG              the tools of the build
#   MTOP_SANITIZER_FLAGS                    compile and link flags a consumer of a sanitized
#                                           build needs (empty otherwise)
# It makes a temporary folder ($work, removed on exit) and installs the build into
# $work/prefix with `cmake --install --prefix`, the way a user would.
set -euo pipefail
# Under pipefail never end a pipe in `grep -q`: it exits at the first match, the writer
# before it can die of SIGPIPE, and the pipe then fails although the line was there
# (package_deb failed so on `ldd | grep -q`). `grep ... >/dev/null` reads to the end.

for var in MTOP_SOURCE_DIR MTOP_BUILD_DIR MTOP_LIBDIR MTOP_INCLUDEDIR MTOP_BINDIR MTOP_VERSION \
           MTOP_ABI_VERSION CC CXX CMAKE PKG_CONFIG; do
  if [ -z "${!var:-}" ]; then
    echo "$var is not set: run this through ctest" >&2
    exit 2
  fi
done
MTOP_APPS=${MTOP_APPS:-}
MTOP_WITH_LIBUV=${MTOP_WITH_LIBUV:-1}
MTOP_SANITIZER_FLAGS=${MTOP_SANITIZER_FLAGS:-}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mtop-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
# shellcheck disable=SC2034  # used by the scripts that source this file
{
  libdir="$prefix/$MTOP_LIBDIR"
  includedir="$prefix/$MTOP_INCLUDEDIR"
  bindir="$prefix/$MTOP_BINDIR"
}

# Installs the build into $prefix; the log is shown only when it fails.
install_build() {
  if ! "$CMAKE" --install "$MTOP_BUILD_DIR" --prefix "$prefix" >"$work/install.log" 2>&1; then
    cat "$work/install.log" >&2
    fail "cmake --install $MTOP_BUILD_DIR --prefix $prefix"
  fi
  pass "installed $MTOP_BUILD_DIR into a temporary prefix ($(grep -c 'Installing:' "$work/install.log") files)"
}

# pkg-config that sees the installed prefix (and the system's libuv.pc), nothing else of ours.
# Trailing blanks (pkg-config ends --cflags/--libs with one) are dropped.
pc() { PKG_CONFIG_PATH="$libdir/pkgconfig" "$PKG_CONFIG" "$@" | sed -E 's/[[:space:]]+$//'; }
