// strata/kernels/cpu/winograd/input.hpp — the Winograd input transform V = Bᵀ d B of a block's
// tiles, one tile per SIMD lane, written in the layout the element-wise GEMMs read.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/cpu/winograd/blocks.hpp"
#include "strata/kernels/cpu/winograd/transforms.hpp"

namespace strata::kernels::cpu::winograd {

// in[k] (k < α) = element k of one row of the patches of L tiles, p[l] pointing at lane l's row:
// a transposition, by 4×4 shuffles for 8 floats, element by element through scratch `d`
// otherwise.
template <int M, class T>
STRATA_INLINE void gather_row(const T* const* p, std::int64_t row_off, vec<T>* in, T* d) {
  using V_t = vec<T>;
  constexpr int A = M + 2, L = simd::lanes_of<V_t>;
  if constexpr (std::is_same_v<T, float> && L == 8) {
    const auto pair = [&](int l, std::int64_t o) { return simd::load_halves(p[l] + o, p[l + 4] + o); };
    simd::transpose4_halves(pair(0, row_off), pair(1, row_off), pair(2, row_off), pair(3, row_off), in);
    if constexpr (A > 4) {  // elements 4 and 5 (the transposition's other two outputs go unused)
      const std::int64_t o = row_off + 4;
      V_t k[4];
      simd::transpose4_halves(pair(0, o), pair(1, o), pair(2, o), pair(3, o), k);
      in[4] = k[0];
      in[5] = k[1];
    }
    return;
  }
  for (int l = 0; l < L; ++l) {
    STRATA_PRAGMA(GCC unroll 8)
    for (int k = 0; k < A; ++k) d[k * L + l] = p[l][row_off + k];
  }
  STRATA_PRAGMA(GCC unroll 8)
  for (int k = 0; k < A; ++k) in[k] = simd::load<V_t>(d + k * L);
}

// V[ξ][c][ld] for the tiles of a block: V = Bᵀ d B. Per channel: the slab; then per vector of
// tiles, each patch row is gathered across the lanes and transformed along the row, and the
// columns are transformed and written to V contiguously. Columns of V up to the block's tiles
// rounded up to a group are written (the padding lanes repeat the last tile).
template <int M, class T, bool Packed = false>
void input_block(const shape& s, const T* x, const block_info& bi, T* V, std::int64_t ld, T* slab,
                      T* scratch) {
  using Tr = winograd_transforms<M>;
  using V_t = vec<T>;
  constexpr int A = Tr::alpha, L = simd::lanes_of<V_t>;
  constexpr std::int64_t G = group;
  T* d = scratch;          // [A][L]: gather scratch (generic path)
  T* tmp = scratch + A * L;  // [A][A][G]: the patches after the row transform
  const std::int64_t plane = plane_stride(s.C, ld), nb = bi.tiles, Wp = s.slab_width;
  std::fill(slab, slab + bi.slab_size, T(0));
  for (std::int64_t c = 0; c < s.C; ++c) {
    fill_slab(s, x, c, bi, slab);
    for (std::int64_t g0 = 0; g0 < nb; g0 += G) {
      const std::int64_t nv = (std::min(G, nb - g0) + L - 1) / L;
      for (std::int64_t v = 0; v < nv; ++v) {
        const T* p[L];
        for (int l = 0; l < L; ++l) p[l] = slab + bi.slab_off[std::size_t(g0 + v * L + l)];
        for (int i = 0; i < A; ++i) {
          V_t in[A], out[A];
          gather_row<M, T>(p, i * Wp, in, d);
          Tr::template input<V_t, T>(in, out);
          STRATA_PRAGMA(GCC unroll 8)
          for (int j = 0; j < A; ++j) simd::store(tmp + (i * A + j) * G + v * L, out[j]);
        }
      }
      for (int j = 0; j < A; ++j) {
        // ξ = i·A + j: dst + i·A·plane. Packed: V(ξ) in panels of packed_nr tiles, [panel][c][packed_nr].
        T* dst = Packed ? V + j * plane + c * packed_nr : V + j * plane + c * ld + g0;
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[A], out[A];
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < A; ++i) in[i] = simd::load<V_t>(tmp + (i * A + j) * G + v * L);
          Tr::template input<V_t, T>(in, out);
          const std::int64_t t = g0 + v * L;
          T* col = Packed ? dst + (t / packed_nr) * s.C * packed_nr + t % packed_nr : dst + v * L;
          STRATA_PRAGMA(GCC unroll 8)
          for (int i = 0; i < A; ++i) simd::store(col + i * A * plane, out[i]);
        }
      }
    }
  }
}

}  // namespace strata::kernels::cpu::winograd
