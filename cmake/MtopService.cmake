# What an operator installs beside the programs (MTOP_INSTALL and MTOP_BUILD_APPS):
#   <confdir>/server.json, climber.json, users.json   example configs (examples/config/)
#   <unitdir>/mtop-server.service, climber.service, climber@.service
#   <prefix>/lib/sysusers.d/mtop.conf                 the user the units run as
#   <mandir>/man1/mtop-server.1.gz, climber.1.gz      from --help (help2man) + packaging/man/
#   <docdir>/README.md and docs/*.md
# With the prefix /usr (a distribution package) the configs go to /etc/mtop and the units to
# /lib/systemd/system; otherwise below the prefix (/usr/local/etc/mtop,
# /usr/local/lib/systemd/system, which systemd also reads). docs/INSTALL.md describes it.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_mtop_confdir_default "/etc/mtop")
  set(_mtop_unitdir_default "/lib/systemd/system")
else()
  set(_mtop_confdir_default "${CMAKE_INSTALL_SYSCONFDIR}/mtop")
  set(_mtop_unitdir_default "lib/systemd/system")
endif()
set(MTOP_INSTALL_CONFDIR "${_mtop_confdir_default}" CACHE STRING
    "Where the example configs are installed (relative: below the prefix)")
set(MTOP_INSTALL_UNITDIR "${_mtop_unitdir_default}" CACHE STRING
    "Where the systemd units are installed (relative: below the prefix)")
mark_as_advanced(MTOP_INSTALL_CONFDIR MTOP_INSTALL_UNITDIR)

# --- example configs: the users file and the server config hold secrets (hashes, the key's
# path), so they are not readable by others; the package gives their group to mtop.
install(FILES "${PROJECT_SOURCE_DIR}/examples/config/server.json"
              "${PROJECT_SOURCE_DIR}/examples/config/climber.json"
              "${PROJECT_SOURCE_DIR}/examples/config/users.json"
        DESTINATION "${MTOP_INSTALL_CONFDIR}"
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

# --- systemd units and the sysusers.d entry. The units name the installed programs and configs,
# so they are written at install time for the prefix being installed to (as the pkg-config
# files are). Type=notify when the programs were built with libsystemd (sd_notify).
if(MTOP_WITH_SYSTEMD)
  set(_mtop_service_type notify)
else()
  set(_mtop_service_type exec)
endif()
install(CODE "
  set(MTOP_UNIT_SOURCE_DIR \"${PROJECT_SOURCE_DIR}/packaging/systemd\")
  set(MTOP_UNIT_WORK_DIR \"${PROJECT_BINARY_DIR}/package/systemd\")
  set(MTOP_UNIT_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(MTOP_UNIT_CONFDIR \"${MTOP_INSTALL_CONFDIR}\")
  set(MTOP_UNIT_UNITDIR \"${MTOP_INSTALL_UNITDIR}\")
  set(MTOP_SERVICE_TYPE \"${_mtop_service_type}\")
  include(\"${CMAKE_CURRENT_LIST_DIR}/MtopUnits.cmake\")
")
install(FILES "${PROJECT_SOURCE_DIR}/packaging/sysusers.d/mtop.conf"
        DESTINATION "lib/sysusers.d")

# --- man pages: help2man runs each program's --help and --version and adds the hand-written
# sections of packaging/man/NAME.h2m (configuration, signals, exit status, files).
find_program(MTOP_HELP2MAN help2man)
find_program(MTOP_GZIP gzip)
if(MTOP_HELP2MAN AND MTOP_GZIP)
  set(_mtop_man_pages "")
  foreach(_mtop_app mtop-server climber)
    set(_page "${PROJECT_BINARY_DIR}/man/${_mtop_app}.1")
    set(_include "${PROJECT_SOURCE_DIR}/packaging/man/${_mtop_app}.h2m")
    add_custom_command(
      OUTPUT "${_page}.gz"
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${PROJECT_BINARY_DIR}/man"
      COMMAND "${MTOP_HELP2MAN}" --no-info --no-discard-stderr --section=1
              "--include=${_include}" "--output=${_page}" "$<TARGET_FILE:${_mtop_app}>"
      # -n: no name or time stamp in the .gz, so that the same page gives the same bytes.
      COMMAND "${MTOP_GZIP}" -9nf "${_page}"
      DEPENDS ${_mtop_app} "${_include}"
      COMMENT "Man page ${_mtop_app}(1) from --help"
      VERBATIM)
    list(APPEND _mtop_man_pages "${_page}.gz")
  endforeach()
  add_custom_target(mtop_man_pages ALL DEPENDS ${_mtop_man_pages})
  install(FILES ${_mtop_man_pages} DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
else()
  message(STATUS "help2man or gzip not found: no man pages (scripts/deps.sh installs help2man)")
endif()

# --- documentation
install(FILES "${PROJECT_SOURCE_DIR}/README.md" DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/docs/" DESTINATION "${CMAKE_INSTALL_DOCDIR}"
        FILES_MATCHING PATTERN "*.md")
