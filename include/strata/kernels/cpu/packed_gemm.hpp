// strata/kernels/cpu/packed_gemm.hpp — strata's own fp32 GEMM micro-kernel (AVX2 + FMA) for
// convolutions whose operands are written already packed: the left matrix as row blocks
// [M/6][K][6], the right one as column panels [N/16][K][16]. Winograd's transforms and im2col's
// patch builder write their outputs in the panel layout directly, so nothing is copied again
// (OpenBLAS packs both operands itself on every call and zeroes C before a β = 0 product: 20–30%
// of a convolution's time in our profiles). Without AVX2/FMA, packed_gemm_available is false and
// the callers use gemm<T> instead.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "strata/core/config.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define STRATA_PACKED_GEMM 1
#endif

namespace strata::kernels::cpu {

inline constexpr std::int64_t packed_mr = 6, packed_nr = 16;  // rows of a row block, columns of a panel
#if defined(STRATA_PACKED_GEMM)
inline constexpr bool packed_gemm_available = true;
#else
inline constexpr bool packed_gemm_available = false;
#endif

// Rows rounded up to whole row blocks, and the offset of element (m, k) in a packed left matrix
// with `depth` columns.
constexpr std::int64_t packed_rows(std::int64_t m) { return (m + packed_mr - 1) / packed_mr * packed_mr; }
constexpr std::int64_t packed_a_index(std::int64_t m, std::int64_t k, std::int64_t depth) {
  return (m / packed_mr) * packed_mr * depth + k * packed_mr + m % packed_mr;
}

// Ap = A (M×depth, row-major, leading dimension lda) packed into row blocks, zero rows up to a
// multiple of 6.
inline void pack_a(std::int64_t M, std::int64_t depth, const float* A, std::int64_t lda, float* Ap) {
  for (std::int64_t m = 0; m < packed_rows(M); ++m)
    for (std::int64_t k = 0; k < depth; ++k) Ap[packed_a_index(m, k, depth)] = m < M ? A[m * lda + k] : 0.0f;
}

#if defined(STRATA_PACKED_GEMM)
// C[r][0..cols) = (accumulate ? C : bias[r] or 0) + Σ_k Ap[k][r] · Bp[k][0..16) for r < rows:
// twelve accumulators; per k two loads of B and six broadcasts of A feed twelve FMAs.
STRATA_INLINE void packed_kernel_6x16(std::int64_t depth, const float* Ap, const float* Bp, float* C, std::int64_t ldc,
                                      std::int64_t rows, std::int64_t cols, bool accumulate, const float* bias) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  STRATA_PRAGMA(GCC unroll 4)
  for (std::int64_t k = 0; k < depth; ++k) {
    const __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8);
    __m256 a = _mm256_broadcast_ss(Ap);
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(Ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(Ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(Ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(Ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(Ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
    Ap += packed_mr;
    Bp += packed_nr;
  }
  const __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = C + r * ldc;
    __m256 lo = acc[r][0], hi = acc[r][1];
    if (bias) {
      const __m256 b = _mm256_set1_ps(bias[r]);
      lo = _mm256_add_ps(lo, b), hi = _mm256_add_ps(hi, b);
    }
    if (cols == packed_nr) {
      if (accumulate) lo = _mm256_add_ps(_mm256_loadu_ps(o), lo), hi = _mm256_add_ps(_mm256_loadu_ps(o + 8), hi);
      _mm256_storeu_ps(o, lo);
      _mm256_storeu_ps(o + 8, hi);
    } else {  // a partial last panel: only `cols` columns exist in C
      alignas(32) float part[packed_nr];
      _mm256_store_ps(part, lo);
      _mm256_store_ps(part + 8, hi);
      for (std::int64_t j = 0; j < cols; ++j) o[j] = accumulate ? o[j] + part[j] : part[j];
    }
  }
}

// C (M×N, leading dimension ldc) = [bias +] Ap · Bp over packed operands with `depth` columns /
// rows: Ap as pack_a writes it, Bp as ⌈N/16⌉ panels [depth][16] (columns past N: any finite
// value). The depth is cut into slices of ≤ 256 so a panel slice (≤ 16 KiB) stays in L1 while
// every row block of Ap streams past it. Single-threaded: callers parallelise over blocks.
inline void packed_gemm(std::int64_t M, std::int64_t N, std::int64_t depth, const float* Ap, const float* Bp, float* C,
                        std::int64_t ldc, const float* bias = nullptr) {
  constexpr std::int64_t slice = 256;
  const std::int64_t panels = (N + packed_nr - 1) / packed_nr, row_blocks = (M + packed_mr - 1) / packed_mr;
  if (depth == 0) {
    for (std::int64_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + N, bias ? bias[m] : 0.0f);
    return;
  }
  for (std::int64_t k0 = 0; k0 < depth; k0 += slice) {
    const std::int64_t kl = std::min(slice, depth - k0);
    for (std::int64_t p = 0; p < panels; ++p) {
      const float* bp = Bp + p * depth * packed_nr + k0 * packed_nr;
      const std::int64_t cols = std::min(packed_nr, N - p * packed_nr);
      for (std::int64_t rb = 0; rb < row_blocks; ++rb)
        packed_kernel_6x16(kl, Ap + rb * packed_mr * depth + k0 * packed_mr, bp, C + rb * packed_mr * ldc + p * packed_nr,
                           ldc, std::min(packed_mr, M - rb * packed_mr), cols, k0 > 0,
                           (bias && k0 == 0) ? bias + rb * packed_mr : nullptr);
    }
  }
}
#endif

}  // namespace strata::kernels::cpu
