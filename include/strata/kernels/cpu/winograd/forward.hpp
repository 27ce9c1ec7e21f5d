// strata/kernels/cpu/winograd/forward.hpp — a Winograd forward pass over transformed filters:
// input transform, α² element-wise GEMMs (packed micro-kernel or gemm<T>), output transform.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/packed_gemm.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/cpu/winograd/blocks.hpp"
#include "strata/kernels/cpu/winograd/input.hpp"
#include "strata/kernels/cpu/winograd/transforms.hpp"

namespace strata::kernels::cpu::winograd {

// y = Aᵀ M A (+ bias) for the tiles of a block, M[ξ][k][ld] (defined up to the tiles rounded up
// to a vector); tiles cropped at the borders.
template <int M, class T>
void output_block(const shape& s, const T* Mx, std::int64_t ld, const block_info& bi, const T* bias,
                       T* y, T* scratch) {
  using Tr = winograd_transforms<M>;
  using V_t = vec<T>;
  constexpr int A = Tr::alpha, L = simd::lanes_of<V_t>;
  constexpr std::int64_t G = group;
  T* tmp = scratch;          // [A][M][G]
  T* o = scratch + A * M * G;  // [M][M][G]
  const std::int64_t PQ = s.P * s.Q, Q = s.Q, K = s.K, plane = plane_stride(s.K, ld), nb = bi.tiles;
  for (std::int64_t k = 0; k < K; ++k) {
    const T bk = bias ? bias[k] : T(0);
    T* yk = y + k * PQ;
    for (std::int64_t g0 = 0; g0 < nb; g0 += G) {
      const std::int64_t gl = std::min(G, nb - g0), nv = (gl + L - 1) / L;
      for (int i = 0; i < A; ++i) {
        const T* src = Mx + i * A * plane + k * ld + g0;  // ξ = i·A + j: src + j·plane
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[A], out[M];
          STRATA_PRAGMA(GCC unroll 8)
          for (int j = 0; j < A; ++j) in[j] = simd::load<V_t>(src + j * plane + v * L);
          Tr::template output<V_t, T>(in, out);
          STRATA_PRAGMA(GCC unroll 8)
          for (int j = 0; j < M; ++j) simd::store(tmp + (i * M + j) * G + v * L, out[j]);
        }
      }
      for (int j = 0; j < M; ++j) {
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[A], out[M];
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < A; ++i) in[i] = simd::load<V_t>(tmp + (i * M + j) * G + v * L);
          Tr::template output<V_t, T>(in, out);
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < M; ++i) simd::store(o + (i * M + j) * G + v * L, out[i] + bk);
        }
      }
      std::int64_t l = 0;
      if constexpr (std::is_same_v<T, float> && L == 8 && M == 4) {
        // Whole vectors of uncropped tiles: back-transpose 4×4 per half, one 16-byte row store.
        for (; l + 8 <= gl; l += 8) {
          bool full = true;
          for (int q = 0; q < 8; ++q) {
            const auto t = std::size_t(g0 + l + q);
            full = full && bi.rows[t] == M && bi.cols[t] == M;
          }
          if (!full) break;
          // (Everything in locals: the intrinsic stores may alias anything, s included.)
          T* dst[8];
          STRATA_PRAGMA(GCC unroll 8)
          for (int q = 0; q < 8; ++q) dst[q] = yk + bi.out_off[std::size_t(g0 + l + q)];
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < M; ++i) {
            V_t w[4];
            const T* oi = o + i * M * G + l;
            const std::int64_t row = i * Q;
            simd::transpose4_halves(simd::load<V_t>(oi), simd::load<V_t>(oi + G), simd::load<V_t>(oi + 2 * G),
                                    simd::load<V_t>(oi + 3 * G), w);
            STRATA_PRAGMA(GCC unroll 8)
            for (int q = 0; q < 4; ++q) {
              simd::store(dst[q] + row, simd::low_half(w[q]));
              simd::store(dst[q + 4] + row, simd::high_half(w[q]));
            }
          }
        }
      }
      for (; l < gl; ++l) {
        const auto t = std::size_t(g0 + l);
        T* dst = yk + bi.out_off[t];
        const int rows = bi.rows[t], cols = bi.cols[t];
        if (rows == M && cols == M) {
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < M; ++i)
            STRATA_PRAGMA(GCC unroll 8)
            for (int j = 0; j < M; ++j) dst[i * Q + j] = o[(i * M + j) * G + l];
        } else {
          for (int i = 0; i < rows; ++i)
            for (int j = 0; j < cols; ++j) dst[i * Q + j] = o[(i * M + j) * G + l];
        }
      }
    }
  }
}

// The forward pass of a shape with its transformed filters U[ξ][K][C].
template <int M, class T>
void forward(const shape& s, std::int64_t N, const T* x, const T* U, const T* bias, T* y) {
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  over_blocks<M, T>(s, N, true,
                         [&](std::int64_t, const block_info& bi, std::int64_t ld, T* ws, T* slab, T* scratch) {
                           T* V = ws;
                           T* Mx = V + A2 * plane_stride(s.C, ld);
                           input_block<M, T, uses_packed_gemm<T>>(s, x, bi, V, ld, slab, scratch);
                           // Whole vectors of columns, so the output transform reads defined values.
                           constexpr std::int64_t L = simd::lanes_of<vec<T>>;
                           const std::int64_t n = (bi.tiles + L - 1) / L * L;
#if defined(STRATA_PACKED_GEMM)
                           if constexpr (uses_packed_gemm<T>) {
                             const std::int64_t u_plane = packed_rows(s.K) * s.C;
                             for (std::int64_t xi = 0; xi < A2; ++xi)
                               packed_gemm(s.K, n, s.C, U + xi * u_plane, V + xi * plane_stride(s.C, ld),
                                           Mx + xi * plane_stride(s.K, ld), ld);
                           } else
#endif
                           {
                             for (std::int64_t xi = 0; xi < A2; ++xi)
                               gemm<T>(false, false, s.K, n, s.C, T(1), U + xi * s.K * s.C, s.C,
                                       V + xi * plane_stride(s.C, ld), ld, T(0), Mx + xi * plane_stride(s.K, ld), ld);
                           }
                           output_block<M>(s, Mx, ld, bi, bias, y, scratch);
                         });
}

}  // namespace strata::kernels::cpu::winograd
