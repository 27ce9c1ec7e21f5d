// strata/kernels/cpu/conv_int16.hpp — int16 fixed-point convolutions for 16-bit training (NCHW,
// one group): forward, backward data and backward filter as im2col + int16_gemm, each output
// element rounded ONCE from its exact integer sum, with the same rules as int16_gemm.
//
// Random bits for stochastic rounding: element e of an output is its flat index in that output
// tensor — y[n][k][p][q]: ((n·K + k)·P + p)·Q + q; dx[n][c][h][w]: ((n·C + c)·H + h)·W + w;
// dw[k][c][r][s]: ((k·C + c)·R + r)·S + s; db[k]: k — and its 16 bits are those int16_gemm takes
// for index e (requantize's comment). So the results are the same for any thread count, band size
// or batch split.
//
// Exactness: the forward product is int16_gemm's (exact, then rounded in its store); backward data
// sums the column gradients of overlapping receptive fields exactly (int32 where K·R·S·max|w|·max|dy|
// bounds every sum, else int64) before rounding each dx value; backward filter sums the whole batch
// in int64 before rounding each weight gradient.
//
// Forward: the weights are packed once per call and each band of output rows has its patch matrix
// written straight into the GEMM's pair-interleaved panels (no separate im2col copy); 1×1 stride-1
// unpadded layers multiply the image itself. Batches split over threads image by image when every
// thread gets one, else the GEMMs are threaded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/conv_im2col.hpp"
#include "strata/kernels/cpu/int16_gemm.hpp"
#include "strata/kernels/cpu/simd.hpp"

namespace strata::kernels::cpu {

namespace conv_int16_detail {

inline void check(const conv_geometry& g, const char* what) {
  if (g.groups != 1)
    throw shape_error(std::string(what) + ": int16 convolutions take one group, got " + std::to_string(g.groups));
  if (g.P() <= 0 || g.Q() <= 0)
    throw shape_error(std::string(what) + ": the filter does not fit the padded input");
}

// Images split over threads when every thread gets one (each GEMM then single-threaded), else one
// image after the other with threaded GEMMs; one(n, threaded) does image n.
template <class One>
void over_images(std::int64_t N, One&& one) {
  const std::int64_t threads = in_parallel_region() ? 1 : num_threads();
  if (N >= threads && threads > 1) {
    parallel_chunks(N, threads, [&](std::int64_t, std::int64_t begin, std::int64_t end) {
      for (std::int64_t n = begin; n < end; ++n) one(n, false);
    });
  } else {
    for (std::int64_t n = 0; n < N; ++n) one(n, true);
  }
}

template <class T, int Slot>
T* buffer(std::int64_t values) {
  return static_cast<T*>(int16_detail::scratch<Slot>(std::size_t(std::max<std::int64_t>(values, 1)) * sizeof(T)));
}

// Patch row crs = (c·R + r)·S + s over output rows [p0, p1) of one image:
// out[(p − p0)·Q + q] = x[c][p·sy − py + r][q·sx − px + s], 0 in the padding. The runs are tens of
// values: as memcpy/memset calls they took a quarter of the forward pass, so stride-1 rows are
// written with vectors (AVX-512: one masked load per 32 values, zeros included; AVX2: the row zeroed
// 16 at a time, up to 15 values past its end — the caller leaves room — then the valid part copied).
inline void patch_row(const conv_geometry& g, const std::int16_t* x, std::int64_t crs, std::int64_t p0, std::int64_t p1,
                      std::int16_t* out) {
  const std::int64_t Q = g.Q(), s = crs % g.S, r = crs / g.S % g.R, c = crs / (g.R * g.S);
  std::int64_t q0, q1;
  detail::valid_columns(g, s, q0, q1);
  const std::int64_t shift = s - g.pad_x;
#if defined(__AVX512BW__)
  // Per 32 columns: the lanes read (inside [q0, q1)) and written (inside the row), the same for
  // every row of the band.
  using V = simd::vec<std::int16_t, 64>;
  constexpr std::int64_t most = 8;
  std::uint32_t keep[most], store[most];
  const std::int64_t chunks = (Q + 31) / 32;
  auto first = [](std::int64_t n) { return std::uint32_t((std::uint64_t{1} << n) - 1); };  // lanes 0 … n − 1, n ≤ 32
  if (g.stride_x == 1 && chunks <= most)
    for (std::int64_t b = 0; b < chunks; ++b) {
      const std::int64_t i = 32 * b, lo = std::clamp<std::int64_t>(q0 - i, 0, 32), hi = std::clamp<std::int64_t>(q1 - i, 0, 32);
      keep[b] = hi > lo ? first(hi) & ~first(lo) : 0;
      store[b] = first(std::min<std::int64_t>(Q - i, 32));
    }
#endif
  for (std::int64_t p = p0; p < p1; ++p, out += Q) {
    const std::int64_t y = p * g.stride_y - g.pad_y + r;
    const bool inside = y >= 0 && y < g.H;
    const std::int16_t* in = x + (c * g.H + (inside ? y : 0)) * g.W;  // row y; input column of q: q·sx + shift
    if (g.stride_x == 1) {
#if defined(__AVX512BW__)
      if (chunks <= most) {
        // lanes outside [q0, q1) are neither read nor faulted on, and come back 0
        for (std::int64_t b = 0; b < chunks; ++b)
          simd::store_masked(out + 32 * b, simd::load_masked<V>(in + 32 * b + shift, inside ? keep[b] : 0), store[b]);
        continue;
      }
#elif defined(__AVX2__)
      using V = simd::vec<std::int16_t, 32>;
      for (std::int64_t i = 0; i < Q; i += 16) simd::store(out + i, simd::zero<V>());
      if (!inside) continue;
      std::int64_t i = q0;
      for (; i + 16 <= q1; i += 16) simd::store(out + i, simd::load<V>(in + i + shift));
      if (i < q1 && q1 - q0 >= 16)  // the last piece as a whole vector ending at q1, overlapping what is done
        simd::store(out + q1 - 16, simd::load<V>(in + q1 - 16 + shift));
      else
        for (; i < q1; ++i) out[i] = in[i + shift];
      continue;
#endif
    }
    for (std::int64_t q = 0; q < Q; ++q) {
      const std::int64_t at = q * g.stride_x + shift;
      out[q] = inside && q >= q0 && q < q1 ? in[at] : std::int16_t(0);
    }
  }
}

// out[0 … n) += in[0 … n) for int32 or int64 sums, vectorised (a column gradient row into dx).
template <class T>
STRATA_INLINE void add_run(T* out, const T* in, std::int64_t n) {
  std::int64_t i = 0;
#if defined(__AVX512F__)
  using V = simd::vec<T, 64>;  // masked moves: the row end too
  constexpr std::int64_t lanes = simd::lanes_of<V>;
  for (; i < n; i += lanes) {
    const int k = int(std::min(n - i, lanes));
    simd::store_first(out + i, simd::load_first<V>(out + i, k) + simd::load_first<V>(in + i, k), k);
  }
#elif defined(__AVX2__)
  using V = simd::vec<T, 32>;
  constexpr std::int64_t lanes = simd::lanes_of<V>;
  for (; i + lanes <= n; i += lanes) simd::store(out + i, simd::load<V>(out + i) + simd::load<V>(in + i));
#endif
  for (; i < n; ++i) out[i] += in[i];
}

// dx (one image's running sums) += the column gradients of output rows [p0, p1) (col2im, exact).
template <class T>
void col2im_add(const conv_geometry& g, const T* col, std::int64_t p0, std::int64_t p1, T* dx) {
  const std::int64_t Q = g.Q(), width = (p1 - p0) * Q;
  for (std::int64_t crs = 0; crs < g.patch(); ++crs) {
    const std::int64_t s = crs % g.S, r = crs / g.S % g.R, c = crs / (g.R * g.S);
    std::int64_t q0, q1;
    detail::valid_columns(g, s, q0, q1);
    const std::int64_t shift = s - g.pad_x;
    const T* row = col + crs * width;
    for (std::int64_t p = p0; p < p1; ++p) {
      const std::int64_t y = p * g.stride_y - g.pad_y + r;
      if (y < 0 || y >= g.H) continue;
      T* out = dx + (c * g.H + y) * g.W + shift;
      const T* in = row + (p - p0) * Q;
      if (g.stride_x == 1) add_run(out + q0, in + q0, q1 - q0);
      else
        for (std::int64_t q = q0; q < q1; ++q) out[q * g.stride_x] += in[q];
    }
  }
}

// The band's patch matrix (CRS × width) written straight into int16_gemm's packed panels: two
// patch rows are built contiguously (in L1), then interleaved into every panel's pair words —
// the im2col copy and the GEMM's packing in one pass. `rows` holds 2·width + 16 values.
inline void im2col_panels(const conv_geometry& g, const std::int16_t* x, std::int64_t p0, std::int64_t p1, std::int64_t KP,
                          std::uint32_t* panels, std::int16_t* rows) {
  constexpr int nr = int16_detail::nr;
  const std::int64_t width = (p1 - p0) * g.Q(), CRS = g.patch(), P = (width + nr - 1) / nr;
  std::int16_t* second = rows + width;
  for (std::int64_t kp = 0; kp < KP; ++kp) {
    patch_row(g, x, 2 * kp, p0, p1, rows);
    const bool pair = 2 * kp + 1 < CRS;
    if (pair) patch_row(g, x, 2 * kp + 1, p0, p1, second);
    for (std::int64_t pn = 0; pn < P; ++pn)
      int16_detail::pack_pair_rows<nr>(rows + pn * nr, pair ? second + pn * nr : nullptr,
                                       int(std::min<std::int64_t>(nr, width - pn * nr)), panels + (pn * KP + kp) * nr);
  }
}

}  // namespace conv_int16_detail

// y = requant(w ⋆ x) [+ bias]: x [n][C][H][W], w [K][C][R][S], y [n][K][P][Q]; bias int32 per
// output channel in output units (or null), added after rounding, before saturation.
inline void conv_int16_forward(const conv_geometry& g, std::int64_t n, const std::int16_t* x, const std::int16_t* w,
                               const std::int32_t* bias, std::int16_t* y, const requantize& q) {
  conv_int16_detail::check(g, "conv_int16_forward");
  int16_detail::check(q);
  const std::int64_t PQ = g.P() * g.Q(), Q = g.Q(), CRS = g.patch(), KPQ = g.output_elements();
  const std::int64_t rows = detail::band_rows(g, sizeof(std::int16_t));
  if (g.is_pointwise()) {  // the image is the patch matrix
    conv_int16_detail::over_images(n, [&](std::int64_t i, bool threaded) {
      int16_detail::gemm_requantized(false, false, g.K, PQ, g.C, w, g.C, x + i * g.input_elements(), PQ, y + i * KPQ, PQ,
                                     q, bias, nullptr, {std::uint64_t(i * KPQ), std::uint64_t(PQ)},
                                     threaded && int16_detail::worth_threads(g.K, PQ, g.C));
    });
    return;
  }
  if (n <= 0) return;
  if (CRS == 0) {  // no input channels: the saturated bias
    for (std::int64_t e = 0; e < n * KPQ; ++e)
      y[e] = int16_detail::saturate(bias ? bias[e / PQ % g.K] : 0, q.lo, q.hi);
    return;
  }
  // The weights packed once for all images and bands (read by every thread).
  constexpr int mr = int16_detail::mr, nr = int16_detail::nr;
  const std::int64_t KP = (CRS + 1) / 2, R = (g.K + mr - 1) / mr;
  auto* packed_w = conv_int16_detail::buffer<std::uint32_t, 14>(R * KP * mr + 8);
  const std::int32_t max_w = int16_detail::pack_rows(g.K, CRS, w, CRS, packed_w);
  const std::int64_t max_width = rows * Q, max_panels = (max_width + nr - 1) / nr;
  conv_int16_detail::over_images(n, [&](std::int64_t i, bool threaded) {
    const std::int16_t* xn = x + i * g.input_elements();
    std::int16_t* yn = y + i * KPQ;
    auto* panels = conv_int16_detail::buffer<std::uint32_t, 13>(max_panels * KP * nr);
    auto* patch = conv_int16_detail::buffer<std::int16_t, 10>(2 * max_width + 16);
    int16_detail::packed_operands op;
    op.m = g.K, op.k = CRS, op.KP = KP, op.R = R, op.A = packed_w, op.B = panels, op.max_a = max_w;
    op.max_b = int16_detail::max_abs_values(xn, g.input_elements());  // patches hold x and zeros only
    for (std::int64_t p0 = 0; p0 < g.P(); p0 += rows) {
      const std::int64_t p1 = std::min(g.P(), p0 + rows), width = (p1 - p0) * Q;
      conv_int16_detail::im2col_panels(g, xn, p0, p1, KP, panels, patch);
      op.n = width, op.P = (width + nr - 1) / nr;
      const int16_detail::requant_plan plan(q, bias, nullptr, {std::uint64_t(i * KPQ + p0 * Q), std::uint64_t(PQ)});
      int16_detail::gemm_requantized_packed(op, yn + p0 * Q, PQ, plan, threaded && int16_detail::worth_threads(g.K, width, CRS));
    }
  });
}

// dx = requant(wᵀ ⋆ dy): the transposed convolution. The column gradients Wᵀ·dy and their
// col2im sums are exact — in int32 when K·R·S·max|w|·max|dy| fits (any sum is at most that), else
// in int64 — and each dx value is rounded once.
inline void conv_int16_backward_data(const conv_geometry& g, std::int64_t n, const std::int16_t* w,
                                     const std::int16_t* dy, std::int16_t* dx, const requantize& q) {
  conv_int16_detail::check(g, "conv_int16_backward_data");
  int16_detail::check(q);
  const std::int64_t PQ = g.P() * g.Q(), Q = g.Q(), CRS = g.patch(), HW = g.H * g.W, CHW = g.input_elements();
  if (g.is_pointwise()) {
    conv_int16_detail::over_images(n, [&](std::int64_t i, bool threaded) {
      int16_detail::gemm_requantized(true, false, g.C, HW, g.K, w, g.C, dy + i * g.output_elements(), PQ, dx + i * CHW, HW, q,
                                     nullptr, nullptr, {std::uint64_t(i * CHW), std::uint64_t(HW)},
                                     threaded && int16_detail::worth_threads(g.C, HW, g.K));
    });
    return;
  }
  const std::int64_t bound = (g.K + 1) * g.R * g.S * std::int64_t(int16_detail::max_abs_values(w, g.weight_elements())) *
                             int16_detail::max_abs_values(dy, n * g.output_elements());
  const bool narrow = bound <= std::numeric_limits<std::int32_t>::max();
  auto one = [&](auto zero, std::int64_t i, bool threaded) {
    using T = decltype(zero);
    const std::int64_t rows = detail::band_rows(g, sizeof(T));
    const std::int16_t* dyn = dy + i * g.output_elements();
    T* sum = conv_int16_detail::buffer<T, 11>(CHW);
    T* dcol = conv_int16_detail::buffer<T, 12>(CRS * rows * Q);
    std::fill(sum, sum + CHW, T(0));
    for (std::int64_t p0 = 0; p0 < g.P(); p0 += rows) {
      const std::int64_t p1 = std::min(g.P(), p0 + rows), width = (p1 - p0) * Q;
      const bool inner = threaded && int16_detail::worth_threads(CRS, width, g.K);
      if constexpr (sizeof(T) == 4) int16_detail::gemm_exact32(true, false, CRS, width, g.K, w, CRS, dyn + p0 * Q, PQ, dcol, width, inner);
      else int16_detail::gemm_exact(true, false, CRS, width, g.K, w, CRS, dyn + p0 * Q, PQ, dcol, width, false, inner);
      conv_int16_detail::col2im_add(g, dcol, p0, p1, sum);
    }
    const int16_detail::requant_plan plan(q, nullptr, nullptr, {std::uint64_t(i * CHW), std::uint64_t(HW)});
    int16_detail::requantize_matrix(sum, HW, g.C, HW, dx + i * CHW, HW, plan, threaded);
  };
  conv_int16_detail::over_images(n, [&](std::int64_t i, bool threaded) {
    if (narrow) one(std::int32_t{0}, i, threaded);
    else one(std::int64_t{0}, i, threaded);
  });
}

// Per output channel the exact sum of dy over the batch and the image (the bias gradient).
inline std::vector<std::int64_t> conv_int16_channel_sums(const conv_geometry& g, std::int64_t n, const std::int16_t* dy) {
  const std::int64_t PQ = g.P() * g.Q();
  std::vector<std::int64_t> sum(std::size_t(g.K), 0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 0; k < g.K; ++k) {
      const std::int16_t* row = dy + (i * g.K + k) * PQ;
      std::int64_t s = 0;
      for (std::int64_t j = 0; j < PQ; ++j) s += row[j];
      sum[std::size_t(k)] += s;
    }
  return sum;
}

// dw = requant(Σ_batch dy ⋆ x), one rounding per weight after the exact int64 sum over the whole
// batch; db (nullable) = requant_b(Σ dy), summed exactly and rounded with its own qb.
inline void conv_int16_backward_filter(const conv_geometry& g, std::int64_t n, const std::int16_t* x,
                                       const std::int16_t* dy, std::int16_t* dw, std::int16_t* db, const requantize& q,
                                       const requantize& qb) {
  conv_int16_detail::check(g, "conv_int16_backward_filter");
  int16_detail::check(q);
  if (db) int16_detail::check(qb);
  const std::int64_t PQ = g.P() * g.Q(), Q = g.Q(), CRS = g.patch(), KCRS = g.weight_elements();
  const std::int64_t rows = detail::band_rows(g, sizeof(std::int16_t));
  const std::int64_t threads = in_parallel_region() ? 1 : num_threads();
  const std::int64_t chunks = n >= threads && threads > 1 ? threads : 1;
  // Integer sums are exact in any order: one partial sum per chunk of the batch, added at the end.
  std::vector<std::int64_t> partial(std::size_t(chunks * KCRS), 0);
  parallel_chunks(std::max<std::int64_t>(n, 1), chunks, [&](std::int64_t c, std::int64_t begin, std::int64_t end) {
    std::int64_t* out = partial.data() + c * KCRS;
    const bool threaded = chunks == 1;
    for (std::int64_t i = begin; i < std::min(end, n); ++i) {
      const std::int16_t* xn = x + i * g.input_elements();
      const std::int16_t* dyn = dy + i * g.output_elements();
      if (g.is_pointwise()) {
        int16_detail::gemm_exact(false, true, g.K, g.C, PQ, dyn, PQ, xn, PQ, out, g.C, true,
                                 threaded && int16_detail::worth_threads(g.K, g.C, PQ));
        continue;
      }
      std::int16_t* col = conv_int16_detail::buffer<std::int16_t, 10>(CRS * rows * Q);
      for (std::int64_t p0 = 0; p0 < g.P(); p0 += rows) {
        const std::int64_t p1 = std::min(g.P(), p0 + rows), width = (p1 - p0) * Q;
        detail::im2col_band(g, xn, p0, p1, col);
        int16_detail::gemm_exact(false, true, g.K, CRS, width, dyn + p0 * Q, PQ, col, width, out, CRS, true,
                                 threaded && int16_detail::worth_threads(g.K, CRS, width));
      }
    }
  });
  for (std::int64_t c = 1; c < chunks; ++c)
    for (std::int64_t e = 0; e < KCRS; ++e) partial[std::size_t(e)] += partial[std::size_t(c * KCRS + e)];
  const bool threaded = threads > 1;
  int16_detail::requantize_matrix(partial.data(), CRS, g.K, CRS, dw, CRS,
                                  int16_detail::requant_plan(q, nullptr, nullptr, {0, std::uint64_t(CRS)}), threaded);
  if (db) {
    const std::vector<std::int64_t> sum = conv_int16_channel_sums(g, n, dy);
    int16_detail::requantize_matrix(sum.data(), g.K, 1, g.K, db, g.K,
                                    int16_detail::requant_plan(qb, nullptr, nullptr, {0, std::uint64_t(g.K)}), false);
  }
}

}  // namespace strata::kernels::cpu
