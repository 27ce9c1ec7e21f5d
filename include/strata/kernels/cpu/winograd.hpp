// strata/kernels/cpu/winograd.hpp — Winograd convolution F(m×m, 3×3) for m = 2 and m = 4 (Lavin &
// Gray 2015): 3×3 stride-1 convolutions with (m+2)² instead of 9·m² multiplications per m×m output
// tile; forward, backward data and backward filter, fp32 and fp64, NCHW, zero padding 0–2.
//
// How a pass runs. The output is cut into m×m tiles; tile t reads an α×α input patch (α = m + 2,
// neighbouring patches overlap by 2). For a block of tiles (of any images of the batch):
//   V(ξ)[c][t] = (Bᵀ d_{c,t} B)(ξ)           input transform, α² values per channel and tile
//   M(ξ)[k][t] = Σ_c U(ξ)[k][c] · V(ξ)[c][t]  α² independent GEMMs, U(ξ) = (G g_{k,c} Gᵀ)(ξ)
//   y_{k,t}    = Aᵀ M_{k,t} A                 output transform, cropped at the borders
// so all the multiplications that scale with C·K are in the GEMMs (gemm<T>, i.e. OpenBLAS or
// Eigen), and the transforms only cost O((C + K)·tiles). The filter transform U is cached in the
// caller's filter_cache and recomputed only when the weights change.
//
// Where the time goes and why the tiles are the SIMD lanes (4×4 shuffles gather patch rows and
// scatter output rows), every patch is read from a zero-padded copy of the block's input rows (no
// border branches), and a block's V and M (α² matrices each) stay in cache between the three
// steps: see benchmarks/RESULTS.md (issue 5). Threads take blocks of whole tile rows from a shared
// counter, each with its own workspace and single-threaded GEMMs.
//
// The pieces live in winograd/: transforms.hpp (the matrices), blocks.hpp (blocks, threads),
// input.hpp, filters.hpp, forward.hpp and backward_filter.hpp.
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/core/error.hpp"
#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/filter_cache.hpp"
#include "strata/kernels/cpu/winograd/backward_filter.hpp"
#include "strata/kernels/cpu/winograd/blocks.hpp"
#include "strata/kernels/cpu/winograd/filters.hpp"
#include "strata/kernels/cpu/winograd/forward.hpp"
#include "strata/kernels/cpu/winograd/transforms.hpp"

namespace strata::kernels::cpu {

// The shapes the algorithm runs: its tag's rule (kernels/conv_algorithm.hpp), in one place.
template <int M>
bool winograd_supports(const conv_geometry& g) {
  return algo::winograd<M>::supports(g);
}

// y[N][K][P][Q] = conv(x, w) + b for a geometry winograd_supports<M> accepts. The transformed
// filters are (re)computed into `cache` when the weights differ from those it was made from.
template <int M, class T>
void winograd_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w,
                      std::type_identity_t<const T*> b, T* y, filter_cache<T>& cache) {
  winograd::check_type<T>();
  static_assert(M == 2 || M == 4, "strata: Winograd F(m×m, 3×3) is implemented for m = 2 and m = 4");
  if (!winograd_supports<M>(g))
    throw shape_error("winograd_forward: needs a 3×3, stride-1 convolution with pad ≤ 2");
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  if (cache.stale(10 + M, g, w, g.weight_elements(), A2 * winograd::filter_rows<T>(g.K) * g.C)) {
    winograd::transform_filters<M>(g.K, g.C, w, false, cache.data());
    cache.mark(10 + M, g, w, g.weight_elements());
  }
  const auto s = winograd::make_shape<M>(g.C, g.K, g.H, g.W, g.pad_y, g.pad_x);
  winograd::forward<M>(s, N, x, cache.data(), b, y);
}

// dx = the full correlation of dy with the flipped, channel-transposed filters: a forward pass
// over dy (K channels, P×Q) with w'[c][k][r][s] = w[k][c][2−r][2−s] and padding 2 − pad, which
// yields exactly H×W. `cache` holds w' transformed (give each pass its own cache).
template <int M, class T>
void winograd_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx,
                            filter_cache<T>& cache) {
  winograd::check_type<T>();
  static_assert(M == 2 || M == 4, "strata: Winograd F(m×m, 3×3) is implemented for m = 2 and m = 4");
  if (!winograd_supports<M>(g))
    throw shape_error("winograd_backward_data: needs a 3×3, stride-1 convolution with pad ≤ 2");
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  if (cache.stale(20 + M, g, w, g.weight_elements(), A2 * winograd::filter_rows<T>(g.C) * g.K)) {
    winograd::transform_filters<M>(g.C, g.K, w, true, cache.data());
    cache.mark(20 + M, g, w, g.weight_elements());
  }
  const auto s = winograd::make_shape<M>(g.K, g.C, g.P(), g.Q(), 2 - g.pad_y, 2 - g.pad_x);
  winograd::forward<M>(s, N, dy, cache.data(), static_cast<const T*>(nullptr), dx);
}

template <int M, class T>
void winograd_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw,
                              std::type_identity_t<T*> db) {
  winograd::check_type<T>();
  static_assert(M == 2 || M == 4, "strata: Winograd F(m×m, 3×3) is implemented for m = 2 and m = 4");
  if (!winograd_supports<M>(g))
    throw shape_error("winograd_backward_filter: needs a 3×3, stride-1 convolution with pad ≤ 2");
  winograd::check_type<T>();
  static_assert(M == 2 || M == 4, "strata: Winograd F(m×m, 3×3) is implemented for m = 2 and m = 4");
  if (!winograd_supports<M>(g))
    throw shape_error("winograd_backward_filter: needs a 3×3, stride-1 convolution with pad ≤ 2");
  winograd::backward_filter<M>(g, N, x, dy, dw, db);
}

// Precompiled mode (config.hpp): the instantiations for float and double, m = 2 and 4, are
// compiled once, in strata_precompiled (src/), and only declared here.
// STRATA_INSTANTIATE_WINOGRAD(extern, M, T) declares them, STRATA_INSTANTIATE_WINOGRAD(, M, T)
// defines them.
#define STRATA_INSTANTIATE_WINOGRAD(EXTERN, M, T) \
  EXTERN template void winograd_forward<M, T>(const conv_geometry&, std::int64_t, const T*, const T*, const T*, T*, filter_cache<T>&); \
  EXTERN template void winograd_backward_data<M, T>(const conv_geometry&, std::int64_t, const T*, const T*, T*, filter_cache<T>&); \
  EXTERN template void winograd_backward_filter<M, T>(const conv_geometry&, std::int64_t, const T*, const T*, T*, T*);
#if defined(STRATA_PRECOMPILED)
STRATA_INSTANTIATE_WINOGRAD(extern, 2, float)
STRATA_INSTANTIATE_WINOGRAD(extern, 2, double)
STRATA_INSTANTIATE_WINOGRAD(extern, 4, float)
STRATA_INSTANTIATE_WINOGRAD(extern, 4, double)
#endif

}  // namespace strata::kernels::cpu
