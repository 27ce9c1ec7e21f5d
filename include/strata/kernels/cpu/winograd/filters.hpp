// strata/kernels/cpu/winograd/filters.hpp — the Winograd filter transform U = G g Gᵀ (for the
// forward pass, or of the flipped, transposed filters for backward data), in double, cached by the caller.
#pragma once

#include <algorithm>
#include <cstdint>

#include "strata/config.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/cpu/winograd/blocks.hpp"
#include "strata/kernels/cpu/winograd/transforms.hpp"

namespace strata::kernels::cpu::winograd {

// U[ξ][k][c] = (G g Gᵀ)(ξ) with g = w[k][c] (forward), or, for backward data, the transform of the
// flipped filter w[c][k][2−r][2−s] laid out as U[ξ][k][c] for the pass's K = C_fwd, C = K_fwd.
// Computed in double, rounded once to T. Pairs (k, c) are the SIMD lanes, in runs of 64 through
// local buffers, so each of the α² outputs is written as one contiguous run (one pair at a time,
// scalar, writing 36 values K·C apart, this took 8 ms at K = C = 256 — a quarter of a forward).
template <int M, class T>
void transform_filters(std::int64_t K, std::int64_t C, const T* w, bool flip_transpose, T* U) {
  using Tr = winograd_transforms<M>;
  using V_t = vec<double>;
  constexpr int A = Tr::alpha, L = simd::lanes_of<V_t>;
  constexpr std::int64_t run = 64;
  const std::int64_t KC = K * C, u_plane = filter_rows<T>(K) * C;
  if constexpr (uses_packed_gemm<T>)  // the zero rows that round K up to whole row blocks
    for (int xi = 0; xi < A * A; ++xi)
      for (std::int64_t k = K; k < filter_rows<T>(K); ++k)
        for (std::int64_t c = 0; c < C; ++c) U[xi * u_plane + (k / packed_mr) * packed_mr * C + c * packed_mr + k % packed_mr] = T(0);
  parallel_ranges((KC + run - 1) / run, [&](std::int64_t begin, std::int64_t end) {
    alignas(64) double g[9][run];
    alignas(64) double u[A * A][run];
    for (std::int64_t b = begin; b < end; ++b) {
      const std::int64_t kc0 = b * run, count = std::min(run, KC - kc0);
      for (std::int64_t q = 0; q < run; ++q) {
        const std::int64_t kc = kc0 + std::min(q, count - 1), k = kc / C, c = kc % C;
        if (!flip_transpose) {
          const T* src = w + kc * 9;
          for (int i = 0; i < 9; ++i) g[i][q] = double(src[i]);
        } else {
          const T* src = w + (c * K + k) * 9;  // w_fwd[K_fwd = C][C_fwd = K][3][3]
          for (int i = 0; i < 9; ++i) g[i][q] = double(src[8 - i]);
        }
      }
      for (std::int64_t v = 0; v < run; v += L) {
        V_t h[3][A], in[3], out[A];
        STRATA_PRAGMA(GCC unroll 8)
        for (int r = 0; r < 3; ++r) {  // rows: g Gᵀ
          STRATA_PRAGMA(GCC unroll 8)
          for (int s2 = 0; s2 < 3; ++s2) in[s2] = simd::load<V_t>(&g[3 * r + s2][v]);
          Tr::template filter<V_t, double>(in, h[r]);
        }
        STRATA_PRAGMA(GCC unroll 8)
        for (int j = 0; j < A; ++j) {  // columns: G (g Gᵀ)
          STRATA_PRAGMA(GCC unroll 8)
          for (int r = 0; r < 3; ++r) in[r] = h[r][j];
          Tr::template filter<V_t, double>(in, out);
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < A; ++i) simd::store(&u[i * A + j][v], out[i]);
        }
      }
      if constexpr (uses_packed_gemm<T>) {  // U(ξ)[k / 6][c][k % 6]
        std::int64_t at[run];
        for (std::int64_t q = 0, k = kc0 / C, c = kc0 % C; q < count; ++q) {
          at[q] = (k / packed_mr) * packed_mr * C + c * packed_mr + k % packed_mr;
          if (++c == C) c = 0, ++k;
        }
        for (int xi = 0; xi < A * A; ++xi) {
          T* dst = U + xi * u_plane;
          for (std::int64_t q = 0; q < count; ++q) dst[at[q]] = T(u[xi][q]);
        }
      } else {
        for (int xi = 0; xi < A * A; ++xi) {
          T* dst = U + xi * KC + kc0;
          if (count == run) {  // a constant trip count, which GCC -O2 vectorises
            for (std::int64_t q = 0; q < run; ++q) dst[q] = T(u[xi][q]);
          } else {
            for (std::int64_t q = 0; q < count; ++q) dst[q] = T(u[xi][q]);
          }
        }
      }
    }
  }, 1, 4);
}

}  // namespace strata::kernels::cpu::winograd
