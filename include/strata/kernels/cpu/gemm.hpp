// strata/kernels/cpu/gemm.hpp — C = alpha·op(A)·op(B) + beta·C on the CPU for float and double,
// row-major. Runs OpenBLAS's cblas when the build defines STRATA_USE_CBLAS (CMake option
// STRATA_BLAS), Eigen's GEMM otherwise; gemm_backend() says which, so benchmarks report what ran.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/core/error.hpp"
#include "strata/core/matmul.hpp"
#include "strata/core/parallel.hpp"

#if defined(STRATA_USE_CBLAS)
#include <cblas.h>
#else
#include "strata/kernels/cpu/eigen_gemm.hpp"  // parsed only when it is the backend (Eigen is big)
#endif

namespace strata::kernels::cpu {

constexpr const char* gemm_backend() noexcept {
#if defined(STRATA_USE_CBLAS)
  return "openblas";
#else
  return "eigen";
#endif
}

// Makes OpenBLAS single-threaded for the lifetime of a parallel region whose threads each call
// gemm<T>. Needed because OpenBLAS 0.3.21 (Debian's OpenMP build) does NOT fall back to one
// thread inside an OpenMP parallel region: every call from a worker goes through its threaded
// driver (exec_blas), and its single shared thread buffer then serialises the workers' GEMMs
// while the others spin in sched_yield, several times slower on 2 threads than on 1 (measured
// in benchmarks/RESULTS.md, issue 5). Setting the BLAS
// thread count also sets OpenMP's default for the calling thread, so that is restored at once
// (strata's num_threads() reads it). Does nothing when already inside a parallel region (where
// changing the global count would race), when `parallel` is false, or with another backend.
// While it is held, gemm<T> on the calling thread keeps one BLAS thread even outside an active
// parallel region: a loop whose team is one thread (one work item) runs its body there, and a
// threaded GEMM would sum in another order than the serial one (results would then depend on
// the thread count).
namespace detail {
inline thread_local int blas_pinned_to_calling_thread = 0;
}
class blas_on_calling_threads {
#if defined(STRATA_USE_CBLAS) && defined(_OPENMP)
  bool active_;
  int blas_ = 0, omp_ = 0;

 public:
  explicit blas_on_calling_threads(bool parallel) : active_(parallel && !in_parallel_region()) {
    if (!active_) return;
    blas_ = openblas_get_num_threads();
    omp_ = omp_get_max_threads();
    openblas_set_num_threads(1);
    omp_set_num_threads(omp_);
    ++detail::blas_pinned_to_calling_thread;
  }
  ~blas_on_calling_threads() {
    if (!active_) return;
    --detail::blas_pinned_to_calling_thread;
    openblas_set_num_threads(blas_);
    omp_set_num_threads(omp_);
  }
#else
 public:
  explicit blas_on_calling_threads(bool) {}
#endif
  blas_on_calling_threads(const blas_on_calling_threads&) = delete;
  blas_on_calling_threads& operator=(const blas_on_calling_threads&) = delete;
};

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
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto run = [&] {
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
    else
      cblas_dgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
  };
  // Outside strata's parallel loops the GEMM gets strata's thread count; inside one, the loop
  // holds a blas_on_calling_threads so that each thread's GEMM runs on that thread alone. A loop
  // body on the calling thread outside an active region (a team of one) is pinned by hand:
  // OpenBLAS's OpenMP build takes its thread count from omp_get_max_threads() on every call, so
  // OpenMP's default is 1 for the call and then restored.
  if (!in_parallel_region()) {
    if (detail::blas_pinned_to_calling_thread > 0) {
#if defined(_OPENMP)
      const int omp = omp_get_max_threads();
      openblas_set_num_threads(1);
      run();
      omp_set_num_threads(omp);
#else
      run();
#endif
      return;
    }
    openblas_set_num_threads(num_threads());
  }
  run();
#else
  eigen_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

// Precompiled mode (config.hpp): the instantiations for float and double are compiled once, in
// strata_precompiled (src/), and only declared here. STRATA_INSTANTIATE_GEMM(extern, T)
// declares them, STRATA_INSTANTIATE_GEMM(, T) defines them.
#define STRATA_INSTANTIATE_GEMM(EXTERN, T) \
  EXTERN template void gemm<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, std::int64_t, const T*, std::int64_t, T, T*, std::int64_t);
#if defined(STRATA_PRECOMPILED)
STRATA_INSTANTIATE_GEMM(extern, float)
STRATA_INSTANTIATE_GEMM(extern, double)
#endif

}  // namespace strata::kernels::cpu

namespace strata {

// The element types BLAS multiplies directly. Another type brings its own, more specialised
// evaluate_complex overload in a file of its own (half: kernels/cpu/half_gemm.hpp, through fp32).
template <class T>
concept blas_element = std::is_same_v<T, float> || std::is_same_v<T, double>;

// dst (op)= lhs · rhs through the CPU GEMM; found by argument-dependent lookup from
// device_traits<cpu>::assign (more specialised than core/matmul.hpp's fallback).
template <class T, class A, class B>
  requires blas_element<T>
void evaluate_complex(cpu, const TensorView<T, 2, cpu>& dst, const MatMul<A, B>& node, assign_mode mode) {
  detail::evaluate_matmul(dst, node, mode, [&](const auto& a, const auto& b, std::int64_t m, std::int64_t n,
                                               std::int64_t k, int alpha, int beta, T* c) {
    kernels::cpu::gemm<T>(a.transposed, b.transposed, m, n, k, T(alpha), a.data, a.ld, b.data, b.ld, T(beta), c, n);
  });
}

// An element type with neither BLAS nor an overload of its own: one error naming it.
template <class T, class A, class B>
  requires(!blas_element<T>)
void evaluate_complex(cpu, const TensorView<T, 2, cpu>&, const MatMul<A, B>&, assign_mode) {
  static_assert(no_gemm_kernel_for<cpu, T>::ok,
                "strata::matmul on the CPU has no GEMM for this element type (the note names no_gemm_kernel_for<cpu, "
                "element type>); float and double run on BLAS, half through fp32 (include strata/ops/gemm.hpp)");
}

}  // namespace strata
