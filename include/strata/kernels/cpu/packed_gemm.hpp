// strata/kernels/cpu/packed_gemm.hpp — strata's own fp32 GEMM micro-kernel (on the SIMD layer,
// where the target has 256-bit vectors and FMA) for convolutions whose operands are written
// already packed: the left matrix as row blocks [M/6][K][6], the right one as column panels
// [N/16][K][16]; optionally clamped as it stores (a fused ReLU / ReLU6). On AVX-512 targets a
// 6×32 variant with 512-bit vectors over the same layouts (for the pointwise convolution).
// Without AVX2/FMA packed_gemm_available is false and the callers use gemm<T>.
//
// Why: Winograd's transforms and im2col's patch builder write their outputs in the panel layout
// directly, so nothing is copied again (OpenBLAS packs both operands itself on every call and
// zeroes C before a β = 0 product; see benchmarks/RESULTS.md, issue 5, for what that cost).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

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

// C[r][0..cols) = clamp((accumulate ? C : bias[r] or 0) + Σ_k Ap[k][r] · Bp[k][0..16), lo, hi) for
// r < rows: per k, two loads of B and six broadcasts of A feed twelve FMAs. The clamp is
// v < lo ? lo : (v > hi ? hi : v), so a NaN stays NaN (as ReLU and ReLU6 keep it, and as
// depthwise_conv's clamp does), ±∞ bounds clamp nothing, and a NaN bound clamps nothing on its side.
STRATA_INLINE void packed_kernel_6x16(std::int64_t depth, const float* Ap, const float* Bp, float* C, std::int64_t ldc,
                                      std::int64_t rows, std::int64_t cols, bool accumulate, const float* bias,
                                      float lo = -std::numeric_limits<float>::infinity(),
                                      float hi = std::numeric_limits<float>::infinity()) {
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
  // Checked once here, not per value: the unclamped store (Winograd, im2col) stays as it was.
  const bool clamped = lo > -std::numeric_limits<float>::infinity() || hi < std::numeric_limits<float>::infinity();
  const V vlo = simd::broadcast<V>(lo), vhi = simd::broadcast<V>(hi);
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = C + r * ldc;
    V acc[nv];
    for (int j = 0; j < nv; ++j) {
      acc[j] = bias ? c[r][j] + bias[r] : c[r][j];
      if (cols == packed_nr && accumulate) acc[j] += simd::load<V>(o + j * simd::lanes_of<V>);
    }
    if (clamped && (cols == packed_nr || !accumulate))
      for (int j = 0; j < nv; ++j) {
        acc[j] = acc[j] < vlo ? vlo : acc[j];
        acc[j] = acc[j] > vhi ? vhi : acc[j];
      }
    if (cols == packed_nr) {
      for (int j = 0; j < nv; ++j) simd::store(o + j * simd::lanes_of<V>, acc[j]);
    } else {  // a partial last panel: only `cols` columns exist in C
      alignas(64) float part[packed_nr];
      for (int j = 0; j < nv; ++j) simd::store_aligned(part + j * simd::lanes_of<V>, acc[j]);
      if (!accumulate) {
        std::copy(part, part + cols, o);
      } else {
        for (std::int64_t j = 0; j < cols; ++j) {
          const float v = o[j] + part[j];
          o[j] = clamped ? (v < lo ? lo : (v > hi ? hi : v)) : v;
        }
      }
    }
  }
}

#if defined(__AVX512F__)
// On a target with full-width 512-bit FMA units (Zen 5: twice the 256-bit rate; measured 243
// against 122 GFLOP/s per core) a 6×16 block of 512-bit accumulators would be six dependent
// chains, too few for the FMA latency: this kernel takes `Panels` (1 or 2) adjacent panels at
// once, Bp and Bp + panel_stride, so a 6×32 block is twelve accumulators fed by two loads of B and
// six broadcasts of A per k. Same layouts, same operations per value in the same order as
// packed_kernel_6x16, hence the same bits; cols ≤ 16·Panels, and the same epilogue (bias,
// accumulate, clamp with NaN kept).
inline constexpr bool packed_kernel_512_available = true;
template <int Panels>
STRATA_INLINE void packed_kernel_6x16n_512(std::int64_t depth, const float* Ap, const float* Bp, std::int64_t panel_stride,
                                           float* C, std::int64_t ldc, std::int64_t rows, std::int64_t cols,
                                           bool accumulate, const float* bias,
                                           float lo = -std::numeric_limits<float>::infinity(),
                                           float hi = std::numeric_limits<float>::infinity()) {
  static_assert(Panels == 1 || Panels == 2);
  using V = simd::vec<float, 64>;
  static_assert(simd::lanes_of<V> == packed_nr);
  V c[packed_mr][Panels];
  STRATA_PRAGMA(GCC unroll 6)
  for (int r = 0; r < packed_mr; ++r)
    STRATA_PRAGMA(GCC unroll 2)
    for (int j = 0; j < Panels; ++j) c[r][j] = simd::zero<V>();
  const float* B1 = Bp + (Panels > 1 ? panel_stride : 0);
  STRATA_PRAGMA(GCC unroll 4)
  for (std::int64_t k = 0; k < depth; ++k) {
    V b[Panels];
    b[0] = simd::load<V>(Bp + k * packed_nr);
    if constexpr (Panels > 1) b[1] = simd::load<V>(B1 + k * packed_nr);
    STRATA_PRAGMA(GCC unroll 6)
    for (int r = 0; r < packed_mr; ++r) {
      const V a = simd::broadcast<V>(Ap[r]);
      STRATA_PRAGMA(GCC unroll 2)
      for (int j = 0; j < Panels; ++j) c[r][j] = simd::fma(a, b[j], c[r][j]);
    }
    Ap += packed_mr;
  }
  const bool clamped = lo > -std::numeric_limits<float>::infinity() || hi < std::numeric_limits<float>::infinity();
  const V vlo = simd::broadcast<V>(lo), vhi = simd::broadcast<V>(hi);
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = C + r * ldc;
    for (int j = 0; j < Panels; ++j) {
      const std::int64_t n = std::min(packed_nr, cols - j * packed_nr);
      if (n <= 0) break;
      float* oj = o + j * packed_nr;
      V v = bias ? c[r][j] + bias[r] : c[r][j];
      if (accumulate) v += n == packed_nr ? simd::load<V>(oj) : simd::load_first<V>(oj, int(n));
      if (clamped) {
        v = v < vlo ? vlo : v;
        v = v > vhi ? vhi : v;
      }
      if (n == packed_nr) simd::store(oj, v);
      else simd::store_first(oj, v, int(n));
    }
  }
}
#else
inline constexpr bool packed_kernel_512_available = false;
#endif

// C (M×N, leading dimension ldc) = clamp([bias +] Ap · Bp, lo, hi) over packed operands with
// `depth` columns / rows: Ap as pack_a writes it, Bp as ⌈N/16⌉ panels [depth][16] (columns past
// N: any finite value). The depth is cut into slices of ≤ 256 so a panel slice (≤ 16 KiB) stays
// in L1 while every row block of Ap streams past it; the bias goes in with the first slice, the
// clamp (packed_kernel_6x16's, NaN kept) on the last one's store only. Single-threaded: callers
// parallelise over blocks.
inline void packed_gemm(std::int64_t M, std::int64_t N, std::int64_t depth, const float* Ap, const float* Bp, float* C,
                        std::int64_t ldc, const float* bias = nullptr, float lo = -std::numeric_limits<float>::infinity(),
                        float hi = std::numeric_limits<float>::infinity()) {
  constexpr std::int64_t slice = 256;
  constexpr float inf = std::numeric_limits<float>::infinity();
  const std::int64_t panels = (N + packed_nr - 1) / packed_nr, row_blocks = (M + packed_mr - 1) / packed_mr;
  if (depth == 0) {
    for (std::int64_t m = 0; m < M; ++m) {
      const float v = bias ? bias[m] : 0.0f;
      std::fill(C + m * ldc, C + m * ldc + N, v < lo ? lo : (v > hi ? hi : v));
    }
    return;
  }
  for (std::int64_t k0 = 0; k0 < depth; k0 += slice) {
    const std::int64_t kl = std::min(slice, depth - k0);
    const bool last = k0 + kl == depth;
    for (std::int64_t p = 0; p < panels; ++p) {
      const float* bp = Bp + p * depth * packed_nr + k0 * packed_nr;
      const std::int64_t cols = std::min(packed_nr, N - p * packed_nr);
      for (std::int64_t rb = 0; rb < row_blocks; ++rb)
        packed_kernel_6x16(kl, Ap + rb * packed_mr * depth + k0 * packed_mr, bp, C + rb * packed_mr * ldc + p * packed_nr,
                           ldc, std::min(packed_mr, M - rb * packed_mr), cols, k0 > 0,
                           (bias && k0 == 0) ? bias + rb * packed_mr : nullptr, last ? lo : -inf, last ? hi : inf);
    }
  }
}
#endif

}  // namespace strata::kernels::cpu
