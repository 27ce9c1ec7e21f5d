// strata/kernels/cuda/gemm.cuh — GEMM on the GPU through cuBLAS: fp64, fp32, and fp16 with
// fp32 accumulation (cublasGemmEx, tensor cores), single and strided-batched, row-major like
// the rest of strata. cuBLAS handles are created once per (device, stream) and cached.
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "strata/core/matmul.hpp"
#include "strata/device/cuda.hpp"
#include "strata/device/cuda/allocator.hpp"
#include "strata/device/cuda/error.hpp"
#include "strata/device/cuda/stream.hpp"

namespace strata::kernels::cuda {

// The cuBLAS handle for the current device and the given stream (created on first use, kept
// for the life of the process: creating a handle costs milliseconds).
inline cublasHandle_t cublas_handle(cudaStream_t stream) {
  static std::mutex mutex;
  static auto* handles = new std::map<std::pair<int, cudaStream_t>, cublasHandle_t>();
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = handles->try_emplace({device, stream}, nullptr);
  if (inserted) {
    try {
      // cuBLAS allocates its workspace itself: where that fails while strata caches freed
      // blocks, give them back and try once more.
      if (cublasCreate(&it->second) == CUBLAS_STATUS_ALLOC_FAILED) {
        caching_allocator::instance().release_cached();
        STRATA_CUDA_CHECK(cublasCreate(&it->second));
      }
      STRATA_CUDA_CHECK(cublasSetStream(it->second, stream));
      // fp16 GEMMs accumulate in fp32 throughout: no split-K reduction in the output type.
      STRATA_CUDA_CHECK(
          cublasSetMathMode(it->second, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                                  CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    } catch (...) {
      handles->erase(it);
      throw;
    }
  }
  return it->second;
}

namespace detail {

template <class T>
constexpr cudaDataType_t cuda_type() {
  if constexpr (std::is_same_v<T, double>) return CUDA_R_64F;
  else if constexpr (std::is_same_v<T, float>) return CUDA_R_32F;
  else return CUDA_R_16F;
}
template <class T>
constexpr cublasComputeType_t compute_type() {
  if constexpr (std::is_same_v<T, double>) return CUBLAS_COMPUTE_64F;
  else return CUBLAS_COMPUTE_32F;  // fp32 and fp16 data both accumulate in fp32
}
// alpha and beta are in the compute type.
template <class T>
using scale_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

inline int as_int(std::int64_t v, const char* what) {
  if (v > INT32_MAX || v < 0)
    throw shape_error(std::string("cuda gemm: ") + what + " = " + std::to_string(v) + " exceeds cuBLAS's 32-bit interface");
  return static_cast<int>(v);
}

}  // namespace detail

namespace detail {
// Row-major C = alpha·op(A)·op(B) + beta·C through cuBLAS's typed interface (any data and compute
// type; alpha and beta point to host values of the scale type). Row-major C is column-major
// Cᵀ = op(B)ᵀ·op(A)ᵀ, so cuBLAS gets B first, with the same transpose flags.
inline void gemm_ex(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const void* alpha,
                    const void* a, std::int64_t lda, std::int64_t stride_a, const void* b, std::int64_t ldb,
                    std::int64_t stride_b, const void* beta, void* c, std::int64_t ldc, std::int64_t stride_c,
                    std::int64_t batch, cudaDataType_t type, cublasComputeType_t compute) {
  if (m == 0 || n == 0 || batch == 0) return;
  // cuBLAS rejects leading dimensions below 1 even when k = 0 means nothing is read.
  lda = std::max<std::int64_t>(lda, 1);
  ldb = std::max<std::int64_t>(ldb, 1);
  const cublasHandle_t handle = cublas_handle(current_stream());
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int M = as_int(n, "n"), N = as_int(m, "m"), K = as_int(k, "k");
  if (batch == 1) {
    STRATA_CUDA_CHECK(cublasGemmEx(handle, op_b, op_a, M, N, K, alpha, b, type, as_int(ldb, "ldb"), a, type, as_int(lda, "lda"),
                                   beta, c, type, as_int(ldc, "ldc"), compute, CUBLAS_GEMM_DEFAULT));
  } else {
    STRATA_CUDA_CHECK(cublasGemmStridedBatchedEx(handle, op_b, op_a, M, N, K, alpha, b, type, as_int(ldb, "ldb"), stride_b, a,
                                                 type, as_int(lda, "lda"), stride_a, beta, c, type, as_int(ldc, "ldc"),
                                                 stride_c, as_int(batch, "batch"), compute, CUBLAS_GEMM_DEFAULT));
  }
}
}  // namespace detail

// Row-major C (m×n) = alpha·op(A)·op(B) + beta·C, for `batch` matrices `stride_*` elements apart
// (batch = 1: a single GEMM).
template <class T>
void gemm_strided_batched(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                          detail::scale_t<T> alpha, const T* a, std::int64_t lda, std::int64_t stride_a, const T* b,
                          std::int64_t ldb, std::int64_t stride_b, detail::scale_t<T> beta, T* c, std::int64_t ldc,
                          std::int64_t stride_c, std::int64_t batch) {
  static_assert(std::is_same_v<T, double> || std::is_same_v<T, float> || std::is_same_v<T, half>,
                "strata: CUDA GEMM supports double, float and half");
  detail::gemm_ex(trans_a, trans_b, m, n, k, &alpha, a, lda, stride_a, b, ldb, stride_b, &beta, c, ldc, stride_c, batch,
                  detail::cuda_type<T>(), detail::compute_type<T>());
}

// The same contract for complex matrices of float or double (interleaved re, im; sizes, leading
// dimensions and strides counted in complex numbers): the FFT convolution's per-frequency
// products.
template <class T>
void complex_gemm_strided_batched(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
                                  std::int64_t lda, std::int64_t stride_a, const T* b, std::int64_t ldb,
                                  std::int64_t stride_b, T* c, std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
  static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>, "strata: complex GEMM of float or double");
  constexpr bool single = std::is_same_v<T, float>;
  const T alpha[2] = {1, 0}, beta[2] = {0, 0};
  detail::gemm_ex(trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c, batch,
                  single ? CUDA_C_32F : CUDA_C_64F, single ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_64F);
}

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, detail::scale_t<T> alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, detail::scale_t<T> beta, T* c, std::int64_t ldc) {
  gemm_strided_batched<T>(trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}

// c[i] (op)= a[i]·b[i] for a batch of matrices: rank-3 tensors [batch, rows, cols].
template <class T>
void batched_matmul(TensorView<const T, 3, strata::cuda> a, bool trans_a, TensorView<const T, 3, strata::cuda> b,
                    bool trans_b, TensorView<T, 3, strata::cuda> c, assign_mode mode = assign_mode::set) {
  const std::int64_t batch = a.extent(0);
  const std::int64_t m = trans_a ? a.extent(2) : a.extent(1), k = trans_a ? a.extent(1) : a.extent(2);
  const std::int64_t kb = trans_b ? b.extent(2) : b.extent(1), n = trans_b ? b.extent(1) : b.extent(2);
  if (b.extent(0) != batch || c.extent(0) != batch || kb != k || c.extent(1) != m || c.extent(2) != n)
    throw shape_error("batched_matmul: " + a.shape().to_string() + (trans_a ? "ᵀ" : "") + " times " +
                      b.shape().to_string() + (trans_b ? "ᵀ" : "") + " into " + c.shape().to_string() +
                      ": extents do not fit");
  const auto overlaps = [&](const T* p, std::int64_t count) {
    return p < c.data() + c.size() && c.data() < p + count;
  };
  if (overlaps(a.data(), a.size()) || overlaps(b.data(), b.size()))
    throw error("batched_matmul: the destination " + c.shape().to_string() + " overlaps an operand; write into a "
                "separate tensor");
  using S = detail::scale_t<T>;
  gemm_strided_batched<T>(trans_a, trans_b, m, n, k, mode == assign_mode::subtract ? S(-1) : S(1), a.data(), a.extent(2),
                          a.extent(1) * a.extent(2), b.data(), b.extent(2), b.extent(1) * b.extent(2),
                          mode == assign_mode::set ? S(0) : S(1), c.data(), n, m * n, batch);
}

}  // namespace strata::kernels::cuda

namespace strata {

// dst (op)= lhs · rhs through cuBLAS; found by argument-dependent lookup from
// device_traits<cuda>::assign.
template <class T, class A, class B>
void evaluate_complex(cuda, const TensorView<T, 2, cuda>& dst, const MatMul<A, B>& node, assign_mode mode) {
  static_assert(std::is_same_v<T, double> || std::is_same_v<T, float> || std::is_same_v<T, half>,
                "strata::matmul on CUDA supports double, float and half");
  using S = kernels::cuda::detail::scale_t<T>;
  detail::evaluate_matmul(dst, node, mode, [&](const auto& a, const auto& b, std::int64_t m, std::int64_t n,
                                               std::int64_t k, int alpha, int beta, T* c) {
    kernels::cuda::gemm<T>(a.transposed, b.transposed, m, n, k, S(alpha), a.data, a.ld, b.data, b.ld, S(beta), c, n);
  });
}

}  // namespace strata
