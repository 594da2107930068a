# Install rules (MTOP_INSTALL): headers, the two shared libraries, the programs, the CMake
# package (find_package(mtop CONFIG)) and the pkg-config files. Layout (GNUInstallDirs):
#   <includedir>/mtop.h                      C API
#   <includedir>/mtop/*.hpp                  C++ API
#   <libdir>/libmtop.so.<ABI>[.<ver>]        C API      (mtop::mtop,     mtop.pc)
#   <libdir>/libmtop_cpp.so.<ABI>[.<ver>]    C++ API    (mtop::mtop_cpp, mtop_cpp.pc)
#   <libdir>/cmake/mtop/mtopConfig.cmake, mtopConfigVersion.cmake, mtopTargets*.cmake
#   <libdir>/pkgconfig/mtop.pc, mtop_cpp.pc
#   <bindir>/mtop-server, climber            (MTOP_BUILD_APPS)
#   configs, systemd units, man pages, docs  (MTOP_BUILD_APPS; MtopService.cmake)
# docs/INSTALL.md describes it for users; tests/package/ checks it.
include(CMakePackageConfigHelpers)

set(MTOP_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/mtop"
    CACHE STRING "Where mtopConfig.cmake is installed, relative to the prefix")
mark_as_advanced(MTOP_INSTALL_CMAKEDIR)

# Headers: every public C++ header, and mtop.h at the top so that `#include <mtop.h>` works
# with nothing but -I<includedir>.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/mtop" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")
set(_mtop_installed_targets mtop_cpp)
if(TARGET mtop_c)
  install(FILES "${PROJECT_SOURCE_DIR}/bindings/c/include/mtop.h"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
  list(APPEND _mtop_installed_targets mtop_c)
endif()

# The libraries with their SONAME links (libmtop.so -> libmtop.so.0 -> libmtop.so.0.1.0).
# Their include folder comes from their INSTALL_INTERFACE include directories.
install(TARGETS ${_mtop_installed_targets} EXPORT mtopTargets
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

foreach(_mtop_app mtop-server climber)
  if(TARGET ${_mtop_app})
    install(TARGETS ${_mtop_app} RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
  endif()
endforeach()
# Configs, systemd units, man pages and docs for running the programs as a service.
if(TARGET mtop-server AND TARGET climber)
  include(MtopService)
endif()

# The CMake package: imported targets mtop::mtop (C) and mtop::mtop_cpp (C++, carries libuv
# and cxx_std_20). mtopConfig.cmake recreates PkgConfig::LIBUV for mtop::mtop_cpp.
install(EXPORT mtopTargets NAMESPACE mtop:: DESTINATION "${MTOP_INSTALL_CMAKEDIR}"
        FILE mtopTargets.cmake)
if(MTOP_CORE_ONLY)
  set(MTOP_CONFIG_NEEDS_LIBUV FALSE)
else()
  set(MTOP_CONFIG_NEEDS_LIBUV TRUE)
endif()
configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/mtopConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/package/mtopConfig.cmake"
                              INSTALL_DESTINATION "${MTOP_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/package/mtopConfigVersion.cmake"
                                 VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/package/mtopConfig.cmake"
              "${PROJECT_BINARY_DIR}/package/mtopConfigVersion.cmake"
        DESTINATION "${MTOP_INSTALL_CMAKEDIR}")

# pkg-config files: configured from cmake/*.pc.in at install time, so that the prefix in them
# is the one installed to (cmake --install --prefix P included). DESTDIR is not part of it.
set(_mtop_pc_files mtop_cpp)
if(TARGET mtop_c)
  list(APPEND _mtop_pc_files mtop)
endif()
if(MTOP_CORE_ONLY)
  set(_mtop_pc_cpp_requires "")
else()
  set(_mtop_pc_cpp_requires "libuv >= 1.44")
endif()
install(CODE "
  set(MTOP_PC_FILES \"${_mtop_pc_files}\")
  set(MTOP_PC_SOURCE_DIR \"${CMAKE_CURRENT_LIST_DIR}\")
  set(MTOP_PC_WORK_DIR \"${PROJECT_BINARY_DIR}/package/pkgconfig\")
  set(MTOP_PC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(MTOP_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(MTOP_PC_VERSION \"${PROJECT_VERSION}\")
  set(MTOP_PC_CPP_REQUIRES \"${_mtop_pc_cpp_requires}\")
  include(\"${CMAKE_CURRENT_LIST_DIR}/MtopPkgConfig.cmake\")
")
