# `cmake --install` puts the headers, the precompiled library (with STRATA_PRECOMPILED) and a
# package config in the prefix, so that an out-of-tree project can `find_package(strata REQUIRED)`
# and link strata::strata (or strata::header_only, which compiles everything in its own
# translation units). The precompiled library keeps the flags it was built with: from a build
# with STRATA_NATIVE=ON it runs on CPUs like the one that built it.
include(CMakePackageConfigHelpers)

set(STRATA_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/strata")

set(strata_install_targets strata strata_header_only)
if(STRATA_PRECOMPILED)
  list(APPEND strata_install_targets strata_precompiled)
endif()
if(STRATA_WITH_CBLAS)
  list(APPEND strata_install_targets strata_openblas)
endif()
if(STRATA_WITH_FFTW)
  list(APPEND strata_install_targets strata_fftw)
endif()
if(STRATA_WITH_STB)
  list(APPEND strata_install_targets strata_stb)
endif()
if(STRATA_WITH_LIBJPEG)
  list(APPEND strata_install_targets strata_jpeg)
endif()
if(STRATA_CUDA)
  list(APPEND strata_install_targets strata_cuda)
endif()
install(TARGETS ${strata_install_targets} EXPORT strataTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT strataTargets NAMESPACE strata:: DESTINATION ${STRATA_INSTALL_CMAKEDIR})

set(STRATA_CONFIG_USES_OPENMP ${OpenMP_CXX_FOUND})
set(STRATA_CONFIG_USES_CUDA ${STRATA_CUDA})
configure_package_config_file(cmake/strataConfig.cmake.in
  "${CMAKE_CURRENT_BINARY_DIR}/strataConfig.cmake"
  INSTALL_DESTINATION ${STRATA_INSTALL_CMAKEDIR})
# Header-only, the package fits any architecture; with the precompiled library, only its own.
if(STRATA_PRECOMPILED)
  write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/strataConfigVersion.cmake"
    COMPATIBILITY SameMinorVersion)
else()
  write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/strataConfigVersion.cmake"
    COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
endif()
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/strataConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/strataConfigVersion.cmake"
  DESTINATION ${STRATA_INSTALL_CMAKEDIR})
