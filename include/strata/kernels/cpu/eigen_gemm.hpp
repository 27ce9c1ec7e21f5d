// strata/kernels/cpu/eigen_gemm.hpp — Eigen's GEMM on row-major strata matrices: the CPU GEMM
// backend when OpenBLAS is not used, and the comparison point in tests and benchmarks.
#pragma once

#include <cstdint>

// In a CUDA translation unit Eigen would annotate itself for the device; strata uses it on the
// host only.
#if defined(__CUDACC__) && !defined(EIGEN_NO_CUDA)
#define EIGEN_NO_CUDA
#endif
#include <Eigen/Core>

#include "strata/core/parallel.hpp"

namespace strata::kernels::cpu {

// Eigen's own GEMM, always available (the benchmarks compare it with the BLAS route).
template <class T>
void eigen_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const Matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  using Map = Eigen::Map<Matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  // Eigen threads its GEMM over omp_get_max_threads() while its own global setting is unset, so
  // strata sets OpenMP's per-thread count instead of that global: replicas training on several
  // threads at once (parallel/) each keep their own budget and never write one shared value.
  // (Eigen runs serially when nested.)
#if defined(_OPENMP)
  if (!in_parallel_region() && omp_get_max_threads() != num_threads()) omp_set_num_threads(num_threads());
#endif
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

}  // namespace strata::kernels::cpu
