// strata/device/cuda/runtime.hpp — is there a GPU, which one, and how to say so: device count
// (0 on any error, e.g. no driver), the current device and its properties.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "strata/device/cuda/error.hpp"

namespace strata::cuda_runtime {

// Number of usable devices; 0 when the driver or the device is missing (never throws).
inline int device_count() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

// Why there is no device, in words ("CUDA driver version is insufficient …"), or "".
inline std::string unavailable_reason() {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  if (status != cudaSuccess) {
    cudaGetLastError();
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(status);
  }
  return n == 0 ? "no CUDA device" : "";
}

inline int current_device() {
  int d = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

inline cudaDeviceProp properties(int device) {
  cudaDeviceProp p{};
  STRATA_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  return p;
}

// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)"
inline std::string describe(int device) {
  const cudaDeviceProp p = properties(device);
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.multiProcessorCount) + " SMs, " +
         std::to_string(static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024 * 1024)).substr(0, 5) + " GiB)";
}

inline int multiprocessor_count(int device) {
  int n = 0;
  STRATA_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  return n;
}

}  // namespace strata::cuda_runtime
