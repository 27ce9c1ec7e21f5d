# STRATA_CUDA=ON: the CUDA language (nvcc 13 with the host C++ compiler), and the target
# strata::cuda = strata::strata + cudart + cuBLAS + cuFFT. Architectures default to the GPU of
# this machine when one is present, else to a list that includes sm_90.
include(CheckLanguage)
if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "STRATA_CUDA=ON but no CUDA compiler was found: install the CUDA toolkit or set "
                      "CMAKE_CUDA_COMPILER=/path/to/nvcc")
endif()
if(NOT CMAKE_CUDA_HOST_COMPILER)
  set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER})
endif()

if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(strata_detected_arch "")
  find_program(STRATA_NVIDIA_SMI nvidia-smi)
  if(STRATA_NVIDIA_SMI)
    execute_process(COMMAND ${STRATA_NVIDIA_SMI} --query-gpu=compute_cap --format=csv,noheader
      OUTPUT_VARIABLE strata_caps RESULT_VARIABLE strata_smi_result OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(strata_smi_result EQUAL 0 AND strata_caps MATCHES "^([0-9]+)\\.([0-9]+)")
      set(strata_detected_arch "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
    endif()
  endif()
  if(strata_detected_arch)
    set(CMAKE_CUDA_ARCHITECTURES ${strata_detected_arch})
  else()
    set(CMAKE_CUDA_ARCHITECTURES 90)  # H100/H200; add others with -DCMAKE_CUDA_ARCHITECTURES="80;90"
  endif()
endif()
# The shared CUDA runtime, as CUDA::cudart below: CMake's default (static) would put both on
# the link line, and which one wins would depend on their order.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
message(STATUS "strata: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")

add_library(strata_cuda INTERFACE)
add_library(strata::cuda ALIAS strata_cuda)
target_link_libraries(strata_cuda INTERFACE strata CUDA::cudart CUDA::cublas CUDA::cufft)
# CMake 3.25 adds no -std flag for nvcc 13 with CUDA_STANDARD 20 (TOOLCHAIN.md): pass it. The
# reducers' identities call std::numeric_limits (constexpr host functions) in device code.
target_compile_options(strata_cuda INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --expt-relaxed-constexpr>)
