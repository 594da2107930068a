# The Debian package (CPack): built from a tree configured for the system,
#   cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
#         -DMTOP_BUILD_TESTS=OFF -DMTOP_BUILD_BENCH=OFF
#   cmake --build build-deb && (cd build-deb && cpack -G DEB)
# One package, mtop: the programs, both libraries with their headers, CMake package and
# pkg-config files, the systemd units, the example configs in /etc/mtop (conffiles: an upgrade
# never overwrites an edited one), man pages and docs. Its maintainer scripts
# (packaging/deb/) create the user mtop and give it read access to /etc/mtop.
# tests/package/deb_check.sh builds it, lists and extracts it, runs the extracted programs and
# runs lintian on it.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mtop)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "MTop")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "secure TCP proxy over TLS 1.3 and QUIC, with its library")
# The extended description (Debian: lines of at most 80 characters; the synopsis above is the
# first line of the control field).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "mtop-server accepts tunnels from climbers over TLS 1.3 (TCP) and QUIC
(UDP) on one port, checks each user against a users file or a SQLite,
PostgreSQL or MySQL store, and relays TCP connections to the targets its
policy allows. climber offers a SOCKS5 proxy, an HTTP proxy and
port-forwards on the local machine and carries each connection through
its own tunnel; it also publishes local services on ports of the server
(reverse tunnels, for users the server grants them). libmtop is the
library both are built on, with a C++ and a C API.")
set(MTOP_DEB_MAINTAINER "MTop developers <mtop@example.org>" CACHE STRING
    "Maintainer field of the Debian package (name <address>)")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MTOP_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES ON)
# Dependencies from the shared libraries the binaries need (dpkg-shlibdeps), and a shlibs file
# for our own two libraries.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")

# Maintainer scripts and conffiles. Files under /etc must be conffiles; the list names the
# example configs wherever MTOP_INSTALL_CONFDIR put them.
if(IS_ABSOLUTE "${MTOP_INSTALL_CONFDIR}")
  set(_mtop_deb_confdir "${MTOP_INSTALL_CONFDIR}")
else()
  set(_mtop_deb_confdir "${CMAKE_INSTALL_PREFIX}/${MTOP_INSTALL_CONFDIR}")
endif()
set(_mtop_deb_dir "${PROJECT_BINARY_DIR}/package/deb")
# The two libraries are in the linker's folder: ldconfig must run after (un)installing.
file(WRITE "${_mtop_deb_dir}/triggers" "activate-noawait ldconfig\n")
file(WRITE "${_mtop_deb_dir}/conffiles"
     "${_mtop_deb_confdir}/server.json\n${_mtop_deb_confdir}/climber.json\n"
     "${_mtop_deb_confdir}/users.json\n")
foreach(script postinst prerm postrm)
  set(MTOP_DEB_CONFDIR "${_mtop_deb_confdir}")
  configure_file("${PROJECT_SOURCE_DIR}/packaging/deb/${script}.in" "${_mtop_deb_dir}/${script}"
                 @ONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
                 GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${_mtop_deb_dir}/conffiles;${_mtop_deb_dir}/triggers;${_mtop_deb_dir}/postinst;${_mtop_deb_dir}/prerm;${_mtop_deb_dir}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# Debian wants a copyright file and a changelog in /usr/share/doc/<package> (a native package's
# is changelog.gz, compressed without a time stamp in the gzip header).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  string(TIMESTAMP _mtop_deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
  set(MTOP_DEB_VERSION "${PROJECT_VERSION}")
  set(MTOP_DEB_DATE "${_mtop_deb_date}")
  configure_file("${PROJECT_SOURCE_DIR}/packaging/deb/changelog.in" "${_mtop_deb_dir}/changelog" @ONLY)
  find_program(MTOP_GZIP gzip REQUIRED)
  add_custom_command(OUTPUT "${_mtop_deb_dir}/changelog.gz"
                     COMMAND "${MTOP_GZIP}" -9nkf "${_mtop_deb_dir}/changelog"
                     DEPENDS "${_mtop_deb_dir}/changelog" VERBATIM)
  add_custom_target(mtop_deb_changelog ALL DEPENDS "${_mtop_deb_dir}/changelog.gz")
  install(FILES "${_mtop_deb_dir}/changelog.gz" "${PROJECT_SOURCE_DIR}/packaging/deb/copyright"
          DESTINATION "${CMAKE_INSTALL_DOCDIR}")
endif()
include(CPack)
