# NCCL for strata/parallel/nccl_communicator.cuh: with STRATA_CUDA=ON, looks for nccl.h and libnccl
# beside the CUDA toolkit (where NVIDIA's packages and the toolkit installers put them; also
# NCCL_ROOT or CMAKE_PREFIX_PATH) and defines the target strata::nccl = strata::cuda + NCCL, and
# STRATA_NCCL_FOUND. Without NCCL it says so and defines neither target nor flag.
include_guard(GLOBAL)

set(STRATA_NCCL_FOUND OFF)
if(NOT STRATA_CUDA OR NOT TARGET strata::cuda)
  message(STATUS "strata: NCCL not looked for (STRATA_CUDA is OFF)")
  return()
endif()

set(strata_nccl_hints ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_ROOT} ${CUDAToolkit_TARGET_DIR})
find_path(STRATA_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ${strata_nccl_hints} PATH_SUFFIXES include)
find_library(STRATA_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ${strata_nccl_hints} PATH_SUFFIXES lib64 lib)

if(STRATA_NCCL_INCLUDE_DIR AND STRATA_NCCL_LIBRARY)
  file(STRINGS ${STRATA_NCCL_INCLUDE_DIR}/nccl.h strata_nccl_version_lines REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) ")
  set(strata_nccl_version "")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "NCCL_${part} +([0-9]+)" _ "${strata_nccl_version_lines}")
    list(APPEND strata_nccl_version ${CMAKE_MATCH_1})
  endforeach()
  list(JOIN strata_nccl_version "." strata_nccl_version)
  if(strata_nccl_version VERSION_LESS 2.7)
    message(STATUS "strata: NCCL ${strata_nccl_version} at ${STRATA_NCCL_LIBRARY} is older than 2.7 (no ncclSend/ncclRecv): "
                   "the NCCL transport is not built")
    return()
  endif()
  set(STRATA_NCCL_FOUND ON)
  set(STRATA_NCCL_VERSION ${strata_nccl_version})
  if(NOT TARGET strata_nccl)
    add_library(strata_nccl INTERFACE)
    add_library(strata::nccl ALIAS strata_nccl)
    target_include_directories(strata_nccl INTERFACE ${STRATA_NCCL_INCLUDE_DIR})
    target_link_libraries(strata_nccl INTERFACE strata::cuda ${STRATA_NCCL_LIBRARY})
  endif()
  message(STATUS "strata: NCCL ${STRATA_NCCL_VERSION} (${STRATA_NCCL_LIBRARY}): strata::nccl")
else()
  message(STATUS "strata: NCCL not found (nccl.h: ${STRATA_NCCL_INCLUDE_DIR}; libnccl: ${STRATA_NCCL_LIBRARY}); the NCCL "
                 "transport is not built and cuda.nccl skips (set NCCL_ROOT to NCCL's prefix)")
endif()
