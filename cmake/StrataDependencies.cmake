# Finds what strata's headers need: Eigen 3.4 (required), OpenMP (optional: threads),
# OpenBLAS's cblas (optional: GEMM), stb (optional: image I/O).
include(GNUInstallDirs)

find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(OpenMP COMPONENTS CXX)

set(STRATA_WITH_CBLAS OFF)
set(STRATA_GEMM_BACKEND "Eigen")
if(NOT STRATA_BLAS STREQUAL "OFF")
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(STRATA_OPENBLAS QUIET IMPORTED_TARGET openblas)
  endif()
  if(STRATA_OPENBLAS_FOUND)
    # A plain INTERFACE target (not the pkg-config one) so it can be installed and re-found.
    add_library(strata_openblas INTERFACE)
    target_include_directories(strata_openblas INTERFACE ${STRATA_OPENBLAS_INCLUDE_DIRS})
    target_link_libraries(strata_openblas INTERFACE ${STRATA_OPENBLAS_LINK_LIBRARIES})
    set(STRATA_WITH_CBLAS ON)
    set(STRATA_GEMM_BACKEND "OpenBLAS (${STRATA_OPENBLAS_LINK_LIBRARIES})")
  elseif(STRATA_BLAS STREQUAL "ON")
    message(FATAL_ERROR "STRATA_BLAS=ON but OpenBLAS was not found: run scripts/setup (libopenblas-dev)")
  endif()
endif()

find_path(STRATA_STB_INCLUDE_DIR stb/stb_image.h)
