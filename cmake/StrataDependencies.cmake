# Finds what strata's headers need: Eigen 3.4 (required), OpenMP (optional: threads),
# OpenBLAS's cblas (optional: GEMM), stb (optional: image I/O).
include(GNUInstallDirs)

find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(OpenMP COMPONENTS CXX)
# zlib: strata/data/idx.hpp reads gzip-compressed IDX files (MNIST, Fashion-MNIST).
find_package(ZLIB REQUIRED)

set(STRATA_WITH_CBLAS OFF)
set(STRATA_GEMM_BACKEND "Eigen")
if(NOT STRATA_BLAS STREQUAL "OFF")
  # Prefer the OpenMP build of OpenBLAS (Debian's libopenblas-openmp-dev): it shares strata's
  # OpenMP thread pool instead of running a second pool of spinning threads beside it, and a
  # GEMM called inside one of strata's parallel loops runs on that thread alone.
  find_path(STRATA_OPENBLAS_OPENMP_INCLUDE cblas.h PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp
            NO_DEFAULT_PATH)
  find_library(STRATA_OPENBLAS_OPENMP_LIBRARY openblas PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp
               NO_DEFAULT_PATH)
  if(STRATA_OPENBLAS_OPENMP_INCLUDE AND STRATA_OPENBLAS_OPENMP_LIBRARY AND OpenMP_CXX_FOUND)
    set(STRATA_OPENBLAS_FOUND TRUE)
    set(STRATA_OPENBLAS_INCLUDE_DIRS ${STRATA_OPENBLAS_OPENMP_INCLUDE})
    set(STRATA_OPENBLAS_LINK_LIBRARIES ${STRATA_OPENBLAS_OPENMP_LIBRARY})
  else()
    find_package(PkgConfig QUIET)
    if(PkgConfig_FOUND)
      pkg_check_modules(STRATA_OPENBLAS QUIET openblas)
    endif()
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

# FFTW3 (Debian's libfftw3-dev), opt-in only: FFTW is GPL-2+, so a program linking it must be
# distributed under the GPL. Without it the FFT convolution runs on strata's own transforms.
set(STRATA_WITH_FFTW OFF)
if(STRATA_FFTW STREQUAL "AUTO")  # a build directory configured before FFTW became opt-in
  message(WARNING "STRATA_FFTW=AUTO is gone (FFTW is GPL-2+ and opt-in): using OFF; pass -DSTRATA_FFTW=ON to link it")
  set_property(CACHE STRATA_FFTW PROPERTY VALUE OFF)
  set(STRATA_FFTW OFF)
endif()
if(STRATA_FFTW)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(STRATA_FFTW_PC QUIET fftw3f fftw3)
  endif()
  if(NOT STRATA_FFTW_PC_FOUND)
    message(FATAL_ERROR "STRATA_FFTW=ON but FFTW3 was not found: run scripts/setup (libfftw3-dev)")
  endif()
  add_library(strata_fftw INTERFACE)
  target_include_directories(strata_fftw INTERFACE ${STRATA_FFTW_PC_INCLUDE_DIRS})
  target_link_libraries(strata_fftw INTERFACE ${STRATA_FFTW_PC_LINK_LIBRARIES})
  set(STRATA_WITH_FFTW ON)
endif()

find_path(STRATA_STB_INCLUDE_DIR stb/stb_image.h)
# stb (Debian's libstb-dev): strata/image/image_io.hpp and strata/data/image_folder.hpp decode
# and write images through its compiled libstb. Without it those headers still compile; calling
# their functions is a compile-time error that says what to install.
find_library(STRATA_STB_LIBRARY stb)
set(STRATA_WITH_STB OFF)
if(STRATA_STB_INCLUDE_DIR AND STRATA_STB_LIBRARY)
  add_library(strata_stb INTERFACE)
  target_include_directories(strata_stb INTERFACE ${STRATA_STB_INCLUDE_DIR})
  target_link_libraries(strata_stb INTERFACE ${STRATA_STB_LIBRARY})
  set(STRATA_WITH_STB ON)
endif()

# libjpeg (Debian's libjpeg-dev, libjpeg-turbo): strata/image/jpeg_decoder.hpp decodes every JPEG
# through it, as Pillow does. Without it a JPEG file is an error saying what to install.
find_path(STRATA_JPEG_INCLUDE_DIR jpeglib.h)
find_library(STRATA_JPEG_LIBRARY jpeg)
set(STRATA_WITH_LIBJPEG OFF)
if(STRATA_JPEG_INCLUDE_DIR AND STRATA_JPEG_LIBRARY)
  add_library(strata_jpeg INTERFACE)
  target_include_directories(strata_jpeg INTERFACE ${STRATA_JPEG_INCLUDE_DIR})
  target_link_libraries(strata_jpeg INTERFACE ${STRATA_JPEG_LIBRARY})
  set(STRATA_WITH_LIBJPEG ON)
endif()
