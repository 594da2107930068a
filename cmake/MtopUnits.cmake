# Run by `cmake --install` (see MtopService.cmake): writes the systemd units from
# packaging/systemd/*.service.in for the prefix being installed to and installs them
# (file(INSTALL) adds DESTDIR and records them in install_manifest.txt).
# Inputs: MTOP_UNIT_SOURCE_DIR, MTOP_UNIT_WORK_DIR, MTOP_UNIT_BINDIR, MTOP_UNIT_CONFDIR,
# MTOP_UNIT_UNITDIR, MTOP_SERVICE_TYPE; CMAKE_INSTALL_PREFIX is the prefix of this install.
foreach(dir BINDIR CONFDIR UNITDIR)
  if(IS_ABSOLUTE "${MTOP_UNIT_${dir}}")
    set(_mtop_full_${dir} "${MTOP_UNIT_${dir}}")
  else()
    set(_mtop_full_${dir} "${CMAKE_INSTALL_PREFIX}/${MTOP_UNIT_${dir}}")
  endif()
endforeach()
set(MTOP_FULL_BINDIR "${_mtop_full_BINDIR}")
set(MTOP_FULL_CONFDIR "${_mtop_full_CONFDIR}")
# One work folder per destination, so that installs into several prefixes may run at once.
string(MD5 _mtop_unit_key "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(_mtop_unit_dir "${MTOP_UNIT_WORK_DIR}/${_mtop_unit_key}")
configure_file("${MTOP_UNIT_SOURCE_DIR}/mtop-server.service.in" "${_mtop_unit_dir}/mtop-server.service"
               @ONLY)
# climber.service and the template climber@.service come from one file.
set(MTOP_CLIMBER_DESCRIPTION "MTop climber (local proxy to an MTop server)")
set(MTOP_CLIMBER_CONFIG "${MTOP_FULL_CONFDIR}/climber.json")
configure_file("${MTOP_UNIT_SOURCE_DIR}/climber.service.in" "${_mtop_unit_dir}/climber.service" @ONLY)
set(MTOP_CLIMBER_DESCRIPTION "MTop climber %i (${MTOP_FULL_CONFDIR}/climber-%i.json)")
set(MTOP_CLIMBER_CONFIG "${MTOP_FULL_CONFDIR}/climber-%i.json")
configure_file("${MTOP_UNIT_SOURCE_DIR}/climber.service.in" "${_mtop_unit_dir}/climber@.service"
               @ONLY)
file(INSTALL DESTINATION "${_mtop_full_UNITDIR}" TYPE FILE
     FILES "${_mtop_unit_dir}/mtop-server.service" "${_mtop_unit_dir}/climber.service"
           "${_mtop_unit_dir}/climber@.service")
