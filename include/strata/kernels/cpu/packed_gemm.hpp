// strata/kernels/cpu/packed_gemm.hpp — strata's own fp32 GEMM micro-kernel (on the SIMD layer,
// where the target has 256-bit vectors and FMA) for convolutions whose operands are written
// already packed: the left matrix as row blocks [M/6][K][6], the right one as column panels
// [N/16][K][16]. Without it packed_gemm_available is false and the callers use gemm<T>.
//
// Why: Winograd's transforms and im2col's patch builder write their outputs in the panel layout
// directly, so nothing is copied again (OpenBLAS packs both operands itself on every call and
// zeroes C before a β = 0 product; see benchmarks/RESULTS.md, issue 5, for what that cost).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "strata/config.hpp"
#include "strata/kernels/cpu/simd.hpp"

#if defined(__AVX__) && (defined(__FMA__) || defined(__AVX512F__))
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
namespace packed {
// 256-bit vectors even where 512-bit ones exist: a panel row is then two vectors and the 6×16
// block twelve independent accumulators, enough to cover the FMA latency (with 16 lanes it would
// be six); the panel layout, shared with im2col and Winograd, stays the same on every target.
using vec = simd::vec<float, 32>;
inline constexpr int nv = int(packed_nr) / simd::lanes_of<vec>;  // vectors per panel row
}  // namespace packed

// C[r][0..cols) = (accumulate ? C : bias[r] or 0) + Σ_k Ap[k][r] · Bp[k][0..16) for r < rows:
// per k, two loads of B and six broadcasts of A feed twelve FMAs.
STRATA_INLINE void packed_kernel_6x16(std::int64_t depth, const float* Ap, const float* Bp, float* C, std::int64_t ldc,
                                      std::int64_t rows, std::int64_t cols, bool accumulate, const float* bias) {
  using V = packed::vec;
  constexpr int nv = packed::nv;
  V c[packed_mr][nv];
  STRATA_PRAGMA(GCC unroll 6)
  for (int r = 0; r < packed_mr; ++r)
    STRATA_PRAGMA(GCC unroll 4)
    for (int j = 0; j < nv; ++j) c[r][j] = simd::zero<V>();
  STRATA_PRAGMA(GCC unroll 4)
  for (std::int64_t k = 0; k < depth; ++k) {
    V b[nv];
    STRATA_PRAGMA(GCC unroll 4)
    for (int j = 0; j < nv; ++j) b[j] = simd::load<V>(Bp + j * simd::lanes_of<V>);
    STRATA_PRAGMA(GCC unroll 6)
    for (int r = 0; r < packed_mr; ++r) {
      const V a = simd::broadcast<V>(Ap[r]);
      STRATA_PRAGMA(GCC unroll 4)
      for (int j = 0; j < nv; ++j) c[r][j] = simd::fma(a, b[j], c[r][j]);
    }
    Ap += packed_mr;
    Bp += packed_nr;
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = C + r * ldc;
    V acc[nv];
    for (int j = 0; j < nv; ++j) acc[j] = bias ? c[r][j] + bias[r] : c[r][j];
    if (cols == packed_nr) {
      for (int j = 0; j < nv; ++j) {
        float* oj = o + j * simd::lanes_of<V>;
        simd::store(oj, accumulate ? simd::load<V>(oj) + acc[j] : acc[j]);
      }
    } else {  // a partial last panel: only `cols` columns exist in C
      alignas(64) float part[packed_nr];
      for (int j = 0; j < nv; ++j) simd::store_aligned(part + j * simd::lanes_of<V>, acc[j]);
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
