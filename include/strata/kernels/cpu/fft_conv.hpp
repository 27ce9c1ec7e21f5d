// strata/kernels/cpu/fft_conv.hpp — convolution by FFT on the CPU, fp32 and fp64, NCHW, stride 1,
// any kernel size and zero padding: forward, backward data and backward filter, with the filters'
// transforms cached in a filter_cache between calls while the weights are unchanged.
//
// How: every plane (image channel, filter, gradient) is zero-extended to an Fy×Fx grid and
// transformed with real FFTs; a convolution becomes, for every frequency bin, a complex matrix
// product summed over channels (K×C · C×N); inverse FFTs and a cyclic crop give the result.
// The work per output no longer grows with R·S, so large kernels (7×7 … 11×11) get much cheaper
// than with im2col + GEMM, whose cost is proportional to R·S.
//
// The transforms are strata's own (fft/real_fft.hpp, permissive like the rest of strata). A
// build configured with -DSTRATA_FFTW=ON (which defines STRATA_USE_FFTW and links FFTW3, GPL-2+)
// runs the same code with FFTW plans instead (fft/fftw_transform.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/fft/products.hpp"
#include "strata/kernels/cpu/fft/spectra.hpp"
#include "strata/kernels/cpu/fft/workspace.hpp"
#include "strata/kernels/cpu/filter_cache.hpp"

namespace strata::kernels::cpu {

namespace fft {

// The filters' spectra, grouped as K rows of C planes and scaled by 1/(Fy·Fx) (the inverse
// is unnormalised). The cache recomputes them when the weights or the geometry differ from
// those they were made from (forward and backward data share one transform).
template <class T>
const T* filter_spectra(const conv_geometry& g, const grid<T>& gr, const plane_transformer<T>& t, const T* w,
                        const grouped_layout<T>& layout, filter_cache<T>& cache) {
  constexpr int transform = 30;
  if (cache.stale(transform, g, w, g.weight_elements(), gr.vecs * layout.slab())) {
    planes_to_spectra(t, w, g.R, g.S, T(1) / T(gr.Fy * gr.Fx), cache.data(), layout);
    cache.mark(transform, g, w, g.weight_elements());
  }
  return cache.data();
}

}  // namespace fft

// Frees the spectra workspace the calling thread keeps between calls (worker threads keep their
// small per-thread transform scratch).
inline void fft_conv_release_workspace() { fft::thread_workspace::of_this_thread(0).trim(0); }

// Stride 1 only (a strided output would waste most of the transform), any kernel and padding:
// the tag's rule (kernels/conv_algorithm.hpp), in one place.
inline bool fft_conv_supports(const conv_geometry& g) { return algo::fft::supports(g); }

// y = x ⋆ w + b. Spectra: Y(n, k) = Σ_c conj(Ŵ(k, c)) · X̂(n, c) (correlation, hence the
// conjugate); y[p][q] is the inverse at ((p − pad_y) mod Fy, (q − pad_x) mod Fx).
template <class T>
void fft_conv_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w, const T* b, T* y,
                      filter_cache<T>& cache) {
  using namespace fft;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "fft_conv: float or double");
  const grid<T> gr(g);
  const plane_transformer<T> t(gr);
  const grouped_layout<T> lw(g.K, g.C);
  const T* ws = filter_spectra(g, gr, t, w, lw, cache);
  if (N <= 0) return;
  constexpr std::int64_t E = grid<T>::E;
  const std::int64_t group = images_per_group(gr, g.C + g.K, N);
  workspace_lease<T> lease(0);
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.C).slab());
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.K).slab());
  T* const xs = lease.take(gr.vecs * grouped_layout<T>(group, g.C).slab());
  T* const ys = lease.take(gr.vecs * grouped_layout<T>(group, g.K).slab());
  for (std::int64_t n0 = 0; n0 < N; n0 += group) {
    const std::int64_t ng = std::min(group, N - n0);
    const grouped_layout<T> lx(ng, g.C), ly(ng, g.K);
    planes_to_spectra(t, x + n0 * g.input_elements(), g.H, g.W, T(1), xs, lx);
    over_groups(gr.vecs, [&](std::int64_t v) {
      // out(k, n) = Σ_c conj(W(k, c)) · X(c, n)
      product_group<T>(g.K, ng, g.C, ws + v * lw.slab(), lw.ld * E, E, xs + v * lx.slab(), E, lx.ld * E,
                       ys + v * ly.slab(), E, ly.ld * E, true, false, next_slabs(v, gr.vecs, ws, lw, xs, lx));
    });
    spectra_to_planes(t, ys, ly, wrap(-g.pad_y, gr.Fy), wrap(-g.pad_x, gr.Fx), g.P(), g.Q(), T(1),
                      [&](std::int64_t i) { return b ? b[i % g.K] : T(0); }, y + n0 * g.output_elements());
  }
}

// dx = dy ∗ w (a true convolution: the adjoint of the correlation). Spectra:
// DX(n, c) = Σ_k Ŵ(k, c) · DŶ(n, k); dx[i][j] is the inverse at (i + pad_y, j + pad_x) mod F.
// Uses the same filter spectra as the forward pass, so one cache may serve both.
template <class T>
void fft_conv_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx,
                            filter_cache<T>& cache) {
  using namespace fft;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "fft_conv: float or double");
  const grid<T> gr(g);
  const plane_transformer<T> t(gr);
  const grouped_layout<T> lw(g.K, g.C);
  const T* ws = filter_spectra(g, gr, t, w, lw, cache);
  if (N <= 0) return;
  constexpr std::int64_t E = grid<T>::E;
  const std::int64_t group = images_per_group(gr, g.C + g.K, N);
  workspace_lease<T> lease(0);
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.K).slab());
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.C).slab());
  T* const dys = lease.take(gr.vecs * grouped_layout<T>(group, g.K).slab());
  T* const dxs = lease.take(gr.vecs * grouped_layout<T>(group, g.C).slab());
  for (std::int64_t n0 = 0; n0 < N; n0 += group) {
    const std::int64_t ng = std::min(group, N - n0);
    const grouped_layout<T> ldy(ng, g.K), ldx(ng, g.C);
    planes_to_spectra(t, dy + n0 * g.output_elements(), g.P(), g.Q(), T(1), dys, ldy);
    over_groups(gr.vecs, [&](std::int64_t v) {
      // out(c, n) = Σ_k W(k, c) · DY(k, n)
      product_group<T>(g.C, ng, g.K, ws + v * lw.slab(), E, lw.ld * E, dys + v * ldy.slab(), E, ldy.ld * E,
                       dxs + v * ldx.slab(), E, ldx.ld * E, false, false, next_slabs(v, gr.vecs, ws, lw, dys, ldy));
    });
    spectra_to_planes(t, dxs, ldx, wrap(g.pad_y, gr.Fy), wrap(g.pad_x, gr.Fx), g.H, g.W, T(1),
                      [](std::int64_t) { return T(0); }, dx + n0 * g.input_elements());
  }
}

// dw = Σ_n x_n ⋆ dy_n. Spectra: DW(k, c) = Σ_n conj(DŶ(n, k)) · X̂(n, c), summed over the whole
// batch in the frequency domain, so only K·C inverse transforms are needed; dw[r][s] is the
// inverse at (r − pad_y, s − pad_x) mod F. The cost hardly depends on R·S, which is why this
// pass stays on FFT for large kernels (for small ones the K·C inverse transforms, of which only
// R·S values each are kept, can make im2col the better choice; the selector times both).
// db = Σ_n,p,q dy, summed directly.
template <class T>
void fft_conv_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw, T* db) {
  using namespace fft;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "fft_conv: float or double");
  const std::int64_t P = g.P(), Q = g.Q();
  if (db)  // summed in double: N·P·Q terms in float would lose about log2(N·P·Q) bits
    for (std::int64_t k = 0; k < g.K; ++k) {
      double acc = 0;
      for (std::int64_t n = 0; n < N; ++n) {
        const T* row = dy + (n * g.K + k) * P * Q;
        for (std::int64_t i = 0; i < P * Q; ++i) acc += double(row[i]);
      }
      db[k] = T(acc);
    }
  if (N <= 0) {
    std::fill(dw, dw + g.weight_elements(), T(0));
    return;
  }
  const grid<T> gr(g);
  const plane_transformer<T> t(gr);
  constexpr std::int64_t E = grid<T>::E;
  const std::int64_t group = images_per_group(gr, g.C + g.K, N);
  const grouped_layout<T> ldw(g.K, g.C);
  workspace_lease<T> lease(0);
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.C).slab());
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.K).slab());
  lease.reserve(gr.vecs * ldw.slab());
  T* const xs = lease.take(gr.vecs * grouped_layout<T>(group, g.C).slab());
  T* const dys = lease.take(gr.vecs * grouped_layout<T>(group, g.K).slab());
  T* const dws = lease.take(gr.vecs * ldw.slab());
  for (std::int64_t n0 = 0; n0 < N; n0 += group) {
    const std::int64_t ng = std::min(group, N - n0);
    const grouped_layout<T> lx(ng, g.C), ldy(ng, g.K);
    planes_to_spectra(t, x + n0 * g.input_elements(), g.H, g.W, T(1), xs, lx);
    planes_to_spectra(t, dy + n0 * g.output_elements(), P, Q, T(1), dys, ldy);
    over_groups(gr.vecs, [&](std::int64_t v) {
      // out(k, c) (+)= Σ_n conj(DY(k, n)) · X(n, c)
      product_group<T>(g.K, g.C, ng, dys + v * ldy.slab(), E, ldy.ld * E, xs + v * lx.slab(), lx.ld * E, E,
                       dws + v * ldw.slab(), ldw.ld * E, E, true, n0 > 0,
                       next_slabs<T>(v, gr.vecs, n0 > 0 ? dws : nullptr, ldw, xs, lx));
    });
  }
  spectra_to_planes(t, dws, ldw, wrap(-g.pad_y, gr.Fy), wrap(-g.pad_x, gr.Fx), g.R, g.S, T(1) / T(gr.Fy * gr.Fx),
                    [](std::int64_t) { return T(0); }, dw);
}

// Precompiled mode (config.hpp): the instantiations for float and double are compiled once, in
// strata_precompiled (src/), and only declared here. STRATA_INSTANTIATE_FFT_CONV(extern, T)
// declares them, STRATA_INSTANTIATE_FFT_CONV(, T) defines them.
#define STRATA_INSTANTIATE_FFT_CONV(EXTERN, T) \
  EXTERN template void fft_conv_forward<T>(const conv_geometry&, std::int64_t, const T*, const T*, const T*, T*, filter_cache<T>&); \
  EXTERN template void fft_conv_backward_data<T>(const conv_geometry&, std::int64_t, const T*, const T*, T*, filter_cache<T>&); \
  EXTERN template void fft_conv_backward_filter<T>(const conv_geometry&, std::int64_t, const T*, const T*, T*, T*);
#if defined(STRATA_PRECOMPILED)
STRATA_INSTANTIATE_FFT_CONV(extern, float)
STRATA_INSTANTIATE_FFT_CONV(extern, double)
#endif

}  // namespace strata::kernels::cpu

