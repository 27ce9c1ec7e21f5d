// strata/kernels/cpu/winograd/backward_filter.hpp — the Winograd filter gradient: the adjoint of the
// forward algorithm (input and output-gradient transforms, α² GEMMs summed per thread in a fixed
// order, Gᵀ · G back to 3×3), and the bias gradient.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "strata/config.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/winograd/blocks.hpp"
#include "strata/kernels/cpu/winograd/input.hpp"
#include "strata/kernels/cpu/winograd/transforms.hpp"

namespace strata::kernels::cpu::winograd {

// D[ξ][k][ld] = (A dY Aᵀ)(ξ) for the tiles of a block: the gradient reaching M(ξ) from the
// output gradient dy (tiles cropped at the borders, i.e. zero where no output exists).
template <int M, class T>
void output_grad_block(const shape& s, const T* dy, const block_info& bi, T* D, std::int64_t ld,
                            T* scratch) {
  using Tr = winograd_transforms<M>;
  using V_t = vec<T>;
  constexpr int A = Tr::alpha, L = simd::lanes_of<V_t>;
  constexpr std::int64_t G = group;
  T* e = scratch;          // [M][G]
  T* tmp = scratch + M * G;  // [M][A][G]
  const std::int64_t PQ = s.P * s.Q, plane = plane_stride(s.K, ld), nb = bi.tiles;
  for (std::int64_t k = 0; k < s.K; ++k) {
    const T* dyk = dy + k * PQ;
    for (std::int64_t g0 = 0; g0 < nb; g0 += G) {
      const std::int64_t gl = std::min(G, nb - g0), nv = (gl + L - 1) / L;
      for (int i = 0; i < M; ++i) {
        for (std::int64_t l = 0; l < nv * L; ++l) {
          const auto t = std::size_t(g0 + l);
          const T* src = dyk + bi.out_off[t] + i * s.Q;
          if (l >= gl) {
            for (int j = 0; j < M; ++j) e[j * G + l] = T(0);
          } else if (bi.rows[t] == M && bi.cols[t] == M) {
            STRATA_PRAGMA(GCC unroll 8)
            for (int j = 0; j < M; ++j) e[j * G + l] = src[j];
          } else {
            for (int j = 0; j < M; ++j) e[j * G + l] = (i < bi.rows[t] && j < bi.cols[t]) ? src[j] : T(0);
          }
        }
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[M], out[A];
          STRATA_PRAGMA(GCC unroll 8)
          for (int j = 0; j < M; ++j) in[j] = simd::load<V_t>(e + j * G + v * L);
          Tr::template output_adjoint<V_t, T>(in, out);
          STRATA_PRAGMA(GCC unroll 8)
          for (int j = 0; j < A; ++j) simd::store(tmp + (i * A + j) * G + v * L, out[j]);
        }
      }
      for (int j = 0; j < A; ++j) {
        T* dst = D + j * plane + k * ld + g0;  // ξ = i·A + j: dst + i·A·plane
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[M], out[A];
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < M; ++i) in[i] = simd::load<V_t>(tmp + (i * A + j) * G + v * L);
          Tr::template output_adjoint<V_t, T>(in, out);
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < A; ++i) simd::store(dst + i * A * plane + v * L, out[i]);
        }
      }
    }
  }
}

// dw = Σ over tiles Gᵀ[(A dY Aᵀ) ⊙ (Bᵀ d B)]G — the adjoint of the forward algorithm, so Winograd
// too: per block, the input transform V (as forward) and the output-gradient transform D, then α²
// GEMMs dU(ξ)[K×C] += D(ξ)[K×tiles] · V(ξ)[C×tiles]ᵀ accumulated per thread, summed in a fixed
// order, and mapped back to 3×3 by Gᵀ · G. db = Σ dy.
template <int M, class T>
void backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw, T* db) {
  using Tr = winograd_transforms<M>;
  constexpr int A = Tr::alpha;
  constexpr std::int64_t A2 = A * A;
  const auto s = make_shape<M>(g.C, g.K, g.H, g.W, g.pad_y, g.pad_x);
  const std::int64_t KC = g.K * g.C;
  const std::int64_t threads = std::max(num_threads(), 1);
  // One dU accumulator per chunk (at most one chunk per thread).
  std::vector<Tensor<T, 1>> dU(static_cast<std::size_t>(threads));
  std::vector<unsigned char> used(static_cast<std::size_t>(threads), 0);
  over_blocks<M, T>(
      s, N, false,
      [&](std::int64_t chunk, const block_info& bi, std::int64_t ld, T* ws, T* slab, T* scratch) {
        auto& acc = dU[std::size_t(chunk)];
        const bool first = !used[std::size_t(chunk)];
        if (first) acc = Tensor<T, 1>::uninitialized(Shape<1>{A2 * KC});
        used[std::size_t(chunk)] = 1;
        T* V = ws;
        T* D = V + A2 * plane_stride(s.C, ld);
        input_block<M>(s, x, bi, V, ld, slab, scratch);
        output_grad_block<M>(s, dy, bi, D, ld, scratch);
        // k = the block's tiles exactly: V's padding lanes (copies of the last tile) stay out.
        for (std::int64_t xi = 0; xi < A2; ++xi)
          gemm<T>(false, true, s.K, s.C, bi.tiles, T(1), D + xi * plane_stride(s.K, ld), ld,
                  V + xi * plane_stride(s.C, ld), ld,
                  first ? T(0) : T(1), acc.data() + xi * KC, s.C);
      });
  // Sum the chunks' accumulators in chunk order (deterministic for a given thread count).
  Tensor<T, 1>* total = nullptr;
  for (std::size_t i = 0; i < used.size(); ++i) {
    if (!used[i]) continue;
    if (!total) {
      total = &dU[i];
      continue;
    }
    T* STRATA_RESTRICT dst = total->data();
    const T* STRATA_RESTRICT src = dU[i].data();
    parallel_ranges(A2 * KC, [&](std::int64_t begin, std::int64_t end) {
      STRATA_SIMD
      for (std::int64_t j = begin; j < end; ++j) dst[j] += src[j];
    });
  }
  if (!total) {
    std::fill(dw, dw + KC * 9, T(0));
  } else {
    const T* u = total->data();
    parallel_ranges(KC, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t kc = begin; kc < end; ++kc) {
        double h[A * 3], col[A], out[3];
        for (int i = 0; i < A; ++i) {  // rows: dU G
          double row[A];
          STRATA_PRAGMA(GCC unroll 8)
          for (int j = 0; j < A; ++j) row[j] = double(u[(i * A + j) * KC + kc]);
          Tr::filter_adjoint(row, h + 3 * i);
        }
        for (int c = 0; c < 3; ++c) {  // columns: Gᵀ (dU G)
          for (int i = 0; i < A; ++i) col[i] = h[3 * i + c];
          Tr::filter_adjoint(col, out);
          for (int r = 0; r < 3; ++r) dw[kc * 9 + r * 3 + c] = T(out[r]);
        }
      }
    }, 1, 1024);
  }
  if (db) {  // summed in double: N·P·Q terms in a running fp32 sum lose ~1e-6 relative
    const std::int64_t PQ = g.P() * g.Q();
    for (std::int64_t k = 0; k < g.K; ++k) {
      double acc = 0;
      for (std::int64_t n = 0; n < N; ++n) {
        const T* row = dy + (n * g.K + k) * PQ;
        for (std::int64_t i = 0; i < PQ; ++i) acc += double(row[i]);
      }
      db[k] = T(acc);
    }
  }
}

}  // namespace strata::kernels::cpu::winograd
