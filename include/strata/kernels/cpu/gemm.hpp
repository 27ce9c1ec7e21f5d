// strata/kernels/cpu/gemm.hpp — C = alpha·op(A)·op(B) + beta·C on the CPU for float and double,
// row-major. Runs Eigen's GEMM, or OpenBLAS's cblas when the build defines STRATA_USE_CBLAS
// (CMake option STRATA_BLAS); gemm_backend() says which, so benchmarks report what ran.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>

// In a CUDA translation unit Eigen would annotate itself for the device; strata uses it on the
// host only.
#if defined(__CUDACC__) && !defined(EIGEN_NO_CUDA)
#define EIGEN_NO_CUDA
#endif
#include <Eigen/Core>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"

#if defined(STRATA_USE_CBLAS)
#include <cblas.h>
#endif

namespace strata::kernels::cpu {

constexpr const char* gemm_backend() noexcept {
#if defined(STRATA_USE_CBLAS)
  return "openblas";
#else
  return "eigen";
#endif
}

// Eigen's own GEMM, always available (the benchmarks compare it with the BLAS route).
template <class T>
void eigen_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const Matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  using Map = Eigen::Map<Matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  if (!in_parallel_region()) Eigen::setNbThreads(num_threads());  // Eigen runs serially when nested
  const ConstMap A(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  const ConstMap B(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  Map C(c, m, n, Eigen::OuterStride<>(ldc));
  auto run = [&](const auto& opA, const auto& opB) {
    if (beta == T(0)) {
      C.noalias() = alpha * opA * opB;  // C may hold garbage: never read it
    } else {
      if (beta != T(1)) C *= beta;
      C.noalias() += alpha * opA * opB;
    }
  };
  if (!trans_a && !trans_b) run(A, B);
  else if (trans_a && !trans_b) run(A.transpose(), B);
  else if (!trans_a && trans_b) run(A, B.transpose());
  else run(A.transpose(), B.transpose());
}

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "strata: CPU GEMM supports float and double; cast other element types to float");
  if (m == 0 || n == 0) return;
  // BLAS wants leading dimensions >= 1 even when an empty inner extent means nothing is read.
  lda = std::max<std::int64_t>(lda, 1);
  ldb = std::max<std::int64_t>(ldb, 1);
#if defined(STRATA_USE_CBLAS)
  for (std::int64_t v : {m, n, k, lda, ldb, ldc})
    if (v > INT_MAX)
      throw shape_error("gemm: extent " + std::to_string(v) + " exceeds the 32-bit BLAS interface");
  // Inside one of strata's parallel loops the GEMM runs on the calling thread (the OpenMP build
  // of OpenBLAS does that by itself); outside, it gets strata's thread count.
  if (!in_parallel_region()) openblas_set_num_threads(num_threads());
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
#else
  eigen_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace strata::kernels::cpu
