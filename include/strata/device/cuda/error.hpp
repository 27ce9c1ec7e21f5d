// strata/device/cuda/error.hpp — every CUDA runtime, cuBLAS and cuFFT status becomes a
// strata::cuda_error naming the call, the file and the line; kernel launches are checked the
// same way. CUDA headers only: include through <strata/cuda.hpp>.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "strata/core/error.hpp"

namespace strata {

// A failed CUDA, cuBLAS or cuFFT call. what(): "cudaMalloc(&p, bytes) failed at
// strata/device/cuda/allocator.hpp:57: out of memory (cudaErrorMemoryAllocation)".
class cuda_error : public device_error {
 public:
  cuda_error(const std::string& message, int code) : device_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

namespace detail {

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

inline const char* cufft_status_name(cufftResult s) {
  switch (s) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA: return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE: return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE: return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED: return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED: return "CUFFT_NOT_SUPPORTED";
    default: return "cuFFT error (see cufftResult in cufft.h)";
  }
}

// Whether each launch check also waits for the kernel (STRATA_CUDA_SYNC_LAUNCHES=1 in the
// environment, or set_sync_launches): slow, for debugging — an execution fault (an illegal
// address) is then reported at the launch of the kernel that caused it, not at the next call
// that synchronises.
inline std::atomic<bool>& sync_launch_setting() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("STRATA_CUDA_SYNC_LAUNCHES");
    return v != nullptr && *v != '\0' && *v != '0';
  }()};
  return on;
}

inline std::string where(const char* call, const char* file, int line) {
  return std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": ";
}

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear a non-sticky error so the next call starts clean
    throw cuda_error(where(call, file, line) + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")",
                     static_cast<int>(status));
  }
}
inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw cuda_error(where(call, file, line) + cublas_status_name(status) + " (" + std::to_string(int(status)) + ")",
                     static_cast<int>(status));
}
inline void check(cufftResult status, const char* call, const char* file, int line) {
  if (status != CUFFT_SUCCESS)
    throw cuda_error(where(call, file, line) + cufft_status_name(status) + " (" + std::to_string(int(status)) + ")",
                     static_cast<int>(status));
}

// After a launch: its configuration error now, and in sync-launch mode its execution error too.
inline void check_launch(const char* what, const char* file, int line) {
  check(cudaGetLastError(), what, file, line);
  if (sync_launch_setting().load(std::memory_order_relaxed))
    check(cudaDeviceSynchronize(), (std::string(what) + " (synchronised: STRATA_CUDA_SYNC_LAUNCHES)").c_str(), file, line);
}

}  // namespace detail

// Turns the synchronous-launch debug mode on or off for the process (see sync_launch_setting).
inline void set_sync_launches(bool on) { detail::sync_launch_setting().store(on); }
inline bool sync_launches() { return detail::sync_launch_setting().load(); }

}  // namespace strata

// Wrap every CUDA / cuBLAS / cuFFT call: STRATA_CUDA_CHECK(cudaMemcpy(...)).
#define STRATA_CUDA_CHECK(call) ::strata::detail::check((call), #call, __FILE__, __LINE__)

// After a kernel launch: a bad configuration is reported at once (not at the next sync); with
// STRATA_CUDA_SYNC_LAUNCHES=1 a fault while it runs is too.
#define STRATA_CUDA_CHECK_LAUNCH(kernel_name) ::strata::detail::check_launch("launch of " kernel_name, __FILE__, __LINE__)
