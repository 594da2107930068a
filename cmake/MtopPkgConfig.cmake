# Run by `cmake --install` (see MtopInstall.cmake): writes mtop.pc and mtop_cpp.pc from
# cmake/<name>.pc.in for the prefix being installed to, and installs them into
# <libdir>/pkgconfig (file(INSTALL) adds DESTDIR and records them in install_manifest.txt).
# Inputs: MTOP_PC_FILES, MTOP_PC_SOURCE_DIR, MTOP_PC_WORK_DIR, MTOP_PC_LIBDIR,
# MTOP_PC_INCLUDEDIR, MTOP_PC_VERSION, MTOP_PC_CPP_REQUIRES; CMAKE_INSTALL_PREFIX is the
# prefix of this install.
set(MTOP_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(dir LIBDIR INCLUDEDIR)
  # Relative directories are written relative to ${prefix}, as pkg-config users expect.
  if(IS_ABSOLUTE "${MTOP_PC_${dir}}")
    set(MTOP_PC_${dir}_VALUE "${MTOP_PC_${dir}}")
  else()
    set(MTOP_PC_${dir}_VALUE "\${prefix}/${MTOP_PC_${dir}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${MTOP_PC_LIBDIR}")
  set(_mtop_pc_destination "${MTOP_PC_LIBDIR}/pkgconfig")
else()
  set(_mtop_pc_destination "${CMAKE_INSTALL_PREFIX}/${MTOP_PC_LIBDIR}/pkgconfig")
endif()
# One work folder per destination, so that installs into several prefixes may run at once.
string(MD5 _mtop_pc_key "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
foreach(name IN LISTS MTOP_PC_FILES)
  configure_file("${MTOP_PC_SOURCE_DIR}/${name}.pc.in" "${MTOP_PC_WORK_DIR}/${_mtop_pc_key}/${name}.pc"
                 @ONLY)
  file(INSTALL DESTINATION "${_mtop_pc_destination}" TYPE FILE
       FILES "${MTOP_PC_WORK_DIR}/${_mtop_pc_key}/${name}.pc")
endforeach()
