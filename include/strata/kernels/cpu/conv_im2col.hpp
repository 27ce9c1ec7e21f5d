// strata/kernels/cpu/conv_im2col.hpp — convolution by im2col + GEMM, forward, backward data and
// backward filter. The patch matrix is built one band of output rows at a time, sized to stay
// in cache (never a full-size patch matrix, whatever the batch), and multiplied straight into
// the NCHW output. A batch is split across threads image by image (each thread: its own band
// buffer, single-threaded GEMMs); a batch smaller than the thread count runs image after image
// with a threaded GEMM instead. 1×1 stride-1 convolutions skip the patch matrix altogether.
#pragma once

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/conv_batch.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/im2col.hpp"
#include "strata/kernels/cpu/packed_gemm.hpp"

namespace strata::kernels::cpu {

namespace detail {

// Output rows per band: the band's patch matrix (C·R·S × rows·Q) stays under ~1 MiB.
inline std::int64_t band_rows(const conv_geometry& g, std::int64_t value_bytes) {
  constexpr std::int64_t budget = std::int64_t{1} << 20;
  const std::int64_t per_row = std::max<std::int64_t>(1, g.patch() * g.Q() * value_bytes);
  return std::clamp<std::int64_t>(budget / per_row, 1, g.P());
}

// Patch row (c, r, s) over output rows [p0, p1) of one image, contiguous in `out`.
template <class T>
void im2col_row(const conv_geometry& g, const T* x, std::int64_t c, std::int64_t r, std::int64_t s, std::int64_t p0,
                std::int64_t p1, T* out_row) {
  const std::int64_t Q = g.Q();
  std::int64_t q0, q1;
  valid_columns(g, s, q0, q1);
  const std::int64_t shift = s - g.pad_x;
  for (std::int64_t p = p0; p < p1; ++p) {
    T* out = out_row + (p - p0) * Q;
    const std::int64_t y = p * g.stride_y - g.pad_y + r;
    if (y < 0 || y >= g.H) {
      std::fill(out, out + Q, T(0));
      continue;
    }
    const T* in = x + (c * g.H + y) * g.W + shift;
    std::fill(out, out + q0, T(0));
    if (g.stride_x == 1) {
      std::copy(in + q0, in + q1, out + q0);
    } else if (g.stride_x == 2) {  // a constant stride, which GCC vectorises with shuffles
      for (std::int64_t q = q0; q < q1; ++q) out[q] = in[2 * q];
    } else {
      const std::int64_t sx = g.stride_x;
      for (std::int64_t q = q0; q < q1; ++q) out[q] = in[q * sx];
    }
    std::fill(out + q1, out + Q, T(0));
  }
}

// The patch rows of output rows [p0, p1) of one image: a band of the full patch matrix.
template <class T>
void im2col_band(const conv_geometry& g, const T* x, std::int64_t p0, std::int64_t p1, T* col) {
  const std::int64_t width = (p1 - p0) * g.Q();
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t r = 0; r < g.R; ++r)
      for (std::int64_t s = 0; s < g.S; ++s) im2col_row(g, x, c, r, s, p0, p1, col + ((c * g.R + r) * g.S + s) * width);
}

// The same band written as packed_gemm's column panels: col[j / 16][crs][j % 16] for column
// j = (p − p0)·Q + q, the last panel's columns past the band zero. Each patch row is first built
// contiguously in `row` (width values, in L1), then copied out 16 at a time: building it in
// place, segment by segment, took twice as long as the GEMM on 7×7 stride-2 layers.
template <class T>
void im2col_band_panels(const conv_geometry& g, const T* x, std::int64_t p0, std::int64_t p1, T* col, T* row) {
  constexpr std::int64_t nr = packed_nr;
  const std::int64_t width = (p1 - p0) * g.Q(), CRS = g.patch(), full = width / nr;
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t r = 0; r < g.R; ++r)
      for (std::int64_t s = 0; s < g.S; ++s) {
        const std::int64_t crs = (c * g.R + r) * g.S + s;
        im2col_row(g, x, c, r, s, p0, p1, row);
        T* dst = col + crs * nr;
        for (std::int64_t pn = 0; pn < full; ++pn) std::memcpy(dst + pn * CRS * nr, row + pn * nr, sizeof(T) * nr);
        if (const std::int64_t rest = width - full * nr; rest > 0) {
          T* last = dst + full * CRS * nr;
          std::copy(row + full * nr, row + width, last);
          std::fill(last + rest, last + nr, T(0));
        }
      }
}

// dx (of one image) += the band's column gradients.
template <class T>
void col2im_band(const conv_geometry& g, const T* col, std::int64_t p0, std::int64_t p1, T* dx) {
  const std::int64_t Q = g.Q(), width = (p1 - p0) * Q;
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t r = 0; r < g.R; ++r)
      for (std::int64_t s = 0; s < g.S; ++s) {
        const T* row = col + ((c * g.R + r) * g.S + s) * width;
        std::int64_t q0, q1;
        valid_columns(g, s, q0, q1);
        const std::int64_t shift = s - g.pad_x;
        for (std::int64_t p = p0; p < p1; ++p) {
          const std::int64_t y = p * g.stride_y - g.pad_y + r;
          if (y < 0 || y >= g.H) continue;
          T* out = dx + (c * g.H + y) * g.W;
          const T* in = row + (p - p0) * Q;
          for (std::int64_t q = q0; q < q1; ++q) out[q * g.stride_x + shift] += in[q];
        }
      }
}

// The band buffer of the plain (non-packed) passes: one band's patch matrix.
template <class T>
std::int64_t band_workspace(const conv_geometry& g) {
  return g.is_pointwise() ? 0 : g.patch() * band_rows(g, sizeof(T)) * g.Q();
}


}  // namespace detail

template <class T>
void conv_im2col_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w, const T* b, T* y) {
  const std::int64_t PQ = g.P() * g.Q(), Q = g.Q(), CRS = g.patch(), rows = detail::band_rows(g, sizeof(T));
#if defined(STRATA_PACKED_GEMM)
  // fp32 with AVX2/FMA: bands built as packed panels, the filters packed once, the bias added as
  // the GEMM stores — through OpenBLAS a fifth of the time went to packing, zeroing the output
  // for β = 0 and a separate bias pass (benchmarks/RESULTS.md, issue 5).
  if constexpr (std::is_same_v<T, float>) {
    if (!g.is_pointwise()) {
      auto packed_w = Tensor<float, 1>::uninitialized(Shape<1>{packed_rows(g.K) * CRS});
      pack_a(g.K, CRS, w, CRS, packed_w.data());
      const std::int64_t panel_width = (rows * Q + packed_nr - 1) / packed_nr * packed_nr;
      detail::over_images<float>(N, CRS * panel_width + panel_width, [&](std::int64_t n, float* col) {
        const float* xn = x + n * g.input_elements();
        float* yn = y + n * g.output_elements();
        for (std::int64_t p0 = 0; p0 < g.P(); p0 += rows) {
          const std::int64_t p1 = std::min(g.P(), p0 + rows);
          detail::im2col_band_panels(g, xn, p0, p1, col, col + CRS * panel_width);
          packed_gemm(g.K, (p1 - p0) * Q, CRS, packed_w.data(), col, yn + p0 * Q, PQ, b);
        }
      });
      return;
    }
  }
#endif
  detail::over_images<T>(N, detail::band_workspace<T>(g), [&](std::int64_t n, T* col) {
    const T* xn = x + n * g.input_elements();
    T* yn = y + n * g.output_elements();
    if (g.is_pointwise()) {
      gemm<T>(false, false, g.K, PQ, CRS, T(1), w, CRS, xn, PQ, T(0), yn, PQ);
    } else {
      for (std::int64_t p0 = 0; p0 < g.P(); p0 += rows) {
        const std::int64_t p1 = std::min(g.P(), p0 + rows), width = (p1 - p0) * Q;
        detail::im2col_band(g, xn, p0, p1, col);
        gemm<T>(false, false, g.K, width, CRS, T(1), w, CRS, col, width, T(0), yn + p0 * Q, PQ);
      }
    }
    if (b)
      for (std::int64_t k = 0; k < g.K; ++k) {
        const T bk = b[k];
        T* row = yn + k * PQ;
        for (std::int64_t i = 0; i < PQ; ++i) row[i] += bk;
      }
  });
}

// dx = col2im(Wᵀ · dy), band by band.
template <class T>
void conv_im2col_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx) {
  const std::int64_t PQ = g.P() * g.Q(), Q = g.Q(), CRS = g.patch(), rows = detail::band_rows(g, sizeof(T));
  detail::over_images<T>(N, detail::band_workspace<T>(g), [&](std::int64_t n, T* dcol) {
    const T* dyn = dy + n * g.output_elements();
    T* dxn = dx + n * g.input_elements();
    if (g.is_pointwise()) {
      gemm<T>(true, false, CRS, PQ, g.K, T(1), w, CRS, dyn, PQ, T(0), dxn, PQ);
      return;
    }
    std::fill(dxn, dxn + g.input_elements(), T(0));
    for (std::int64_t p0 = 0; p0 < g.P(); p0 += rows) {
      const std::int64_t p1 = std::min(g.P(), p0 + rows), width = (p1 - p0) * Q;
      gemm<T>(true, false, CRS, width, g.K, T(1), w, CRS, dyn + p0 * Q, PQ, T(0), dcol, width);
      detail::col2im_band(g, dcol, p0, p1, dxn);
    }
  });
}

// dw = Σ_n dy_n · patches_nᵀ (per-thread partial sums, added in a fixed order); db = Σ dy.
template <class T>
void conv_im2col_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw, T* db) {
  const std::int64_t PQ = g.P() * g.Q(), Q = g.Q(), CRS = g.patch(), KCRS = g.weight_elements();
  const std::int64_t rows = detail::band_rows(g, sizeof(T));
  const std::int64_t chunks = detail::batch_chunks(N), workspace = detail::band_workspace<T>(g);
  // Chunk 0 accumulates straight into dw; the others into partial sums.
  std::vector<Tensor<T, 1>> partial(static_cast<std::size_t>(chunks - 1));
  for (auto& t : partial) t = Tensor<T, 1>::uninitialized(Shape<1>{KCRS});
  const blas_on_calling_threads blas_guard(chunks > 1);
  parallel_chunks(N, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    T* out = chunk == 0 ? dw : partial[static_cast<std::size_t>(chunk - 1)].data();
    auto col = Tensor<T, 1>::uninitialized(Shape<1>{workspace});
    bool first = true;
    for (std::int64_t n = begin; n < end; ++n) {
      const T* xn = x + n * g.input_elements();
      const T* dyn = dy + n * g.output_elements();
      if (g.is_pointwise()) {
        gemm<T>(false, true, g.K, CRS, PQ, T(1), dyn, PQ, xn, PQ, first ? T(0) : T(1), out, CRS);
        first = false;
        continue;
      }
      for (std::int64_t p0 = 0; p0 < g.P(); p0 += rows) {
        const std::int64_t p1 = std::min(g.P(), p0 + rows), width = (p1 - p0) * Q;
        detail::im2col_band(g, xn, p0, p1, col.data());
        gemm<T>(false, true, g.K, CRS, width, T(1), dyn + p0 * Q, PQ, col.data(), width, first ? T(0) : T(1), out, CRS);
        first = false;
      }
    }
  });
  if (N == 0) std::fill(dw, dw + KCRS, T(0));
  auto total = map(dw, Shape<1>{KCRS});
  for (const auto& p : partial) total += p;
  if (db) {
    for (std::int64_t k = 0; k < g.K; ++k) db[k] = T(0);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < g.K; ++k) {
        const T* row = dy + (n * g.K + k) * PQ;
        T acc = 0;
        for (std::int64_t i = 0; i < PQ; ++i) acc += row[i];
        db[k] += acc;
      }
  }
}

// Precompiled mode (config.hpp): the instantiations for float and double are compiled once, in
// strata_precompiled (src/), and only declared here. STRATA_INSTANTIATE_CONV_IM2COL(extern, T)
// declares them, STRATA_INSTANTIATE_CONV_IM2COL(, T) defines them.
#define STRATA_INSTANTIATE_CONV_IM2COL(EXTERN, T) \
  EXTERN template void conv_im2col_forward<T>(const conv_geometry&, std::int64_t, const T*, const T*, const T*, T*); \
  EXTERN template void conv_im2col_backward_data<T>(const conv_geometry&, std::int64_t, const T*, const T*, T*); \
  EXTERN template void conv_im2col_backward_filter<T>(const conv_geometry&, std::int64_t, const T*, const T*, T*, T*);
#if defined(STRATA_PRECOMPILED)
STRATA_INSTANTIATE_CONV_IM2COL(extern, float)
STRATA_INSTANTIATE_CONV_IM2COL(extern, double)
#endif

}  // namespace strata::kernels::cpu
