# `cmake --install` puts the headers and a package config in the prefix, so that an
# out-of-tree project can `find_package(strata REQUIRED)` and link strata::strata.
include(CMakePackageConfigHelpers)

set(STRATA_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/strata")

set(strata_install_targets strata)
if(STRATA_WITH_CBLAS)
  list(APPEND strata_install_targets strata_openblas)
endif()
if(STRATA_WITH_FFTW)
  list(APPEND strata_install_targets strata_fftw)
endif()
if(STRATA_WITH_STB)
  list(APPEND strata_install_targets strata_stb)
endif()
if(STRATA_CUDA)
  list(APPEND strata_install_targets strata_cuda)
endif()
install(TARGETS ${strata_install_targets} EXPORT strataTargets)
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT strataTargets NAMESPACE strata:: DESTINATION ${STRATA_INSTALL_CMAKEDIR})

set(STRATA_CONFIG_USES_OPENMP ${OpenMP_CXX_FOUND})
set(STRATA_CONFIG_USES_CUDA ${STRATA_CUDA})
configure_package_config_file(cmake/strataConfig.cmake.in
  "${CMAKE_CURRENT_BINARY_DIR}/strataConfig.cmake"
  INSTALL_DESTINATION ${STRATA_INSTALL_CMAKEDIR})
# Header-only: the package fits any architecture.
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/strataConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/strataConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/strataConfigVersion.cmake"
  DESTINATION ${STRATA_INSTALL_CMAKEDIR})
