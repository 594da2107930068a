# Every dependency comes from a Debian 12 package; nothing is downloaded at build time.
# Facts about versions and quirks: ../shared/notes/toolchain.md.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# Catch2 only for the tests, CLI11 only for the programs: the libraries alone need neither.
if(MTOP_BUILD_TESTS)
  find_package(Catch2 2.13 CONFIG REQUIRED)
  include(Catch)
endif()

if(NOT MTOP_CORE_ONLY)
  find_package(OpenSSL 3.0 REQUIRED)
  pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
  find_package(nlohmann_json 3.11 CONFIG REQUIRED)
  # The admin listener's HTTP server (libmtop/admin).
  pkg_check_modules(MICROHTTPD REQUIRED IMPORTED_TARGET libmicrohttpd>=0.9.75)
  if(MTOP_BUILD_APPS OR MTOP_BUILD_BENCH)
    find_package(CLI11 CONFIG REQUIRED)
  endif()
  # Optional: the programs tell systemd when they are ready (apps/common/service_notify.hpp).
  if(MTOP_BUILD_APPS)
    pkg_check_modules(SYSTEMD IMPORTED_TARGET libsystemd)
    set(MTOP_WITH_SYSTEMD ${SYSTEMD_FOUND})
  endif()
  if(MTOP_WITH_QUIC)
    # ngtcp2 0.12 ships no CMake config, and libngtcp2_crypto_gnutls.pc has no Requires:,
    # so we link ngtcp2 and GnuTLS ourselves.
    pkg_check_modules(NGTCP2 REQUIRED IMPORTED_TARGET libngtcp2>=0.12 libngtcp2_crypto_gnutls>=0.12)
    pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls>=3.7)
    # The HTTP/3 site on the QUIC port (docs/PROTOCOL.md section 10); no CMake config either.
    pkg_check_modules(NGHTTP3 REQUIRED IMPORTED_TARGET libnghttp3>=0.8)
  endif()
  if(MTOP_WITH_SQLITE)
    find_package(SQLite3 REQUIRED)
  endif()
  if(MTOP_WITH_POSTGRES)
    pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
  endif()
  if(MTOP_WITH_MYSQL)
    pkg_check_modules(MARIADB REQUIRED IMPORTED_TARGET libmariadb)
  endif()
endif()
