// strata/kernels/cpu/conv_im2col.hpp — convolution by im2col + GEMM, forward, backward data and
// backward filter. A batch is split across threads image by image (each thread: its own patch
// matrix, a single-threaded GEMM, output written in place in NCHW); a batch smaller than the
// thread count runs image after image with a threaded GEMM instead. 1×1 stride-1 convolutions
// skip the patch matrix: the image already is one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/conv_geometry.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/im2col.hpp"

namespace strata::kernels::cpu {

namespace detail {

// Runs one(n, workspace) for n in [0, N): across threads when the batch allows, else serially
// (leaving the threads to the GEMM). Each chunk gets its own patch-matrix workspace.
template <class T, class One>
void over_images(const conv_geometry& g, std::int64_t N, One&& one) {
  const std::int64_t threads = num_threads();
  const std::int64_t chunks = (N >= threads && threads > 1) ? threads : 1;
  const std::int64_t workspace = g.is_pointwise() ? 0 : g.patch() * g.P() * g.Q();
  parallel_chunks(N, chunks, [&](std::int64_t, std::int64_t begin, std::int64_t end) {
    auto col = Tensor<T, 1>::uninitialized(Shape<1>{workspace});
    for (std::int64_t n = begin; n < end; ++n) one(n, col.data());
  });
}

}  // namespace detail

template <class T>
void conv_im2col_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w, const T* b, T* y) {
  const std::int64_t PQ = g.P() * g.Q(), CRS = g.patch();
  detail::over_images<T>(g, N, [&](std::int64_t n, T* col) {
    const T* xn = x + n * g.input_elements();
    T* yn = y + n * g.output_elements();
    const T* patches = xn;
    if (!g.is_pointwise()) {
      im2col(g, xn, col);
      patches = col;
    }
    gemm<T>(false, false, g.K, PQ, CRS, T(1), w, CRS, patches, PQ, T(0), yn, PQ);
    if (b)
      for (std::int64_t k = 0; k < g.K; ++k) {
        const T bk = b[k];
        T* row = yn + k * PQ;
        for (std::int64_t i = 0; i < PQ; ++i) row[i] += bk;
      }
  });
}

// dx = col2im(Wᵀ · dy), image by image.
template <class T>
void conv_im2col_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx) {
  const std::int64_t PQ = g.P() * g.Q(), CRS = g.patch();
  detail::over_images<T>(g, N, [&](std::int64_t n, T* dcol) {
    const T* dyn = dy + n * g.output_elements();
    T* dxn = dx + n * g.input_elements();
    if (g.is_pointwise()) {
      gemm<T>(true, false, CRS, PQ, g.K, T(1), w, CRS, dyn, PQ, T(0), dxn, PQ);
    } else {
      gemm<T>(true, false, CRS, PQ, g.K, T(1), w, CRS, dyn, PQ, T(0), dcol, PQ);
      col2im(g, dcol, dxn);
    }
  });
}

// dw = Σ_n dy_n · patches_nᵀ (per-thread partial sums, added in a fixed order); db = Σ dy.
template <class T>
void conv_im2col_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw, T* db) {
  const std::int64_t PQ = g.P() * g.Q(), CRS = g.patch(), KCRS = g.weight_elements();
  const std::int64_t threads = num_threads();
  const std::int64_t chunks = (N >= threads && threads > 1) ? threads : 1;
  const std::int64_t workspace = g.is_pointwise() ? 0 : CRS * PQ;
  // Chunk 0 accumulates straight into dw; the others into partial sums.
  std::vector<Tensor<T, 1>> partial(static_cast<std::size_t>(chunks - 1));
  for (auto& t : partial) t = Tensor<T, 1>::uninitialized(Shape<1>{KCRS});
  parallel_chunks(N, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    T* out = chunk == 0 ? dw : partial[static_cast<std::size_t>(chunk - 1)].data();
    auto col = Tensor<T, 1>::uninitialized(Shape<1>{workspace});
    for (std::int64_t n = begin; n < end; ++n) {
      const T* xn = x + n * g.input_elements();
      const T* patches = xn;
      if (!g.is_pointwise()) {
        im2col(g, xn, col.data());
        patches = col.data();
      }
      gemm<T>(false, true, g.K, CRS, PQ, T(1), dy + n * g.output_elements(), PQ, patches, PQ, n == begin ? T(0) : T(1),
              out, CRS);
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

}  // namespace strata::kernels::cpu
