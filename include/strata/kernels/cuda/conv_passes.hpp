// strata/kernels/cuda/conv_passes.hpp — the GPU's convolution passes as sequences of GEMMs and
// per-thread bodies (kernels/cuda/conv_body.hpp) over a Backend that provides them: cuBLAS and
// kernel launches on the GPU (kernels/cuda/conv.cuh), a plain GEMM and the grid emulator on the
// CPU (the cuda_emulated tests), so the chunking, strides and leading dimensions handed to the
// GEMMs are checked without a GPU too. Plain C++: compiles with g++ as well as nvcc.
//
// A Backend has: workspace<T>(n) (an owner with data()), fill_zero(p, n), launch(items, body,
// name), and gemm<T>(trans_a, trans_b, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc,
// stride_c, batch): row-major C[i] = op(A[i])·op(B[i]) for `batch` matrices (alpha 1, beta 0).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cuda/conv_body.hpp"
#include "strata/kernels/cuda/depthwise_body.hpp"
#include "strata/kernels/cuda/winograd_body.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::kernels::cuda_body {

// Elements of patch matrix (or of per-image filter gradients) a pass may hold at once: 32 M
// (128 MB in fp32). A batch whose patches need more runs in chunks of images.
inline constexpr std::int64_t conv_workspace_elements = std::int64_t{1} << 25;

inline std::int64_t images_per_chunk(std::int64_t n, std::int64_t per_image,
                                     std::int64_t budget = conv_workspace_elements) {
  return std::clamp<std::int64_t>(budget / std::max<std::int64_t>(per_image, 1), 1, std::max<std::int64_t>(n, 1));
}

// Runs f(int32 tag) when every flat index below `largest` fits in 32 bits, f(int64 tag) otherwise.
template <class F>
void with_index_type(std::int64_t largest, F&& f) {
  if (largest < std::numeric_limits<std::int32_t>::max()) f(std::int32_t{});
  else f(std::int64_t{});
}

template <class Backend>
struct conv_passes {
  Backend& be;
  std::int64_t budget = conv_workspace_elements;

  template <class T>
  void im2col(const conv_geometry& g, std::int64_t images, const T* x, T* col) {
    const std::int64_t total = images * g.patch() * g.P() * g.Q();
    with_index_type(std::max(total, images * g.input_elements()), [&](auto i) {
      using I = decltype(i);
      be.launch(total, im2col_body<T, I>{conv_sizes<I>::of(g), I(images), x, col}, "strata im2col");
    });
  }
  template <class T>
  void col2im(const conv_geometry& g, std::int64_t images, const T* col, T* dx) {
    const std::int64_t total = images * g.input_elements();
    with_index_type(std::max(total, images * g.patch() * g.P() * g.Q()), [&](auto i) {
      using I = decltype(i);
      be.launch(total, col2im_body<T, I>{conv_sizes<I>::of(g), I(images), col, dx}, "strata col2im");
    });
  }
  // y[b][k][·] += bias[k]
  template <class T>
  void add_bias(std::int64_t images, std::int64_t K, std::int64_t plane, const T* bias, T* y) {
    with_index_type(images * K * plane, [&](auto i) {
      using I = decltype(i);
      be.launch(images * K * plane, add_bias_body<T, I>{I(K), I(plane), I(images), bias, y}, "strata add_bias");
    });
  }
  // out (+)= Σ over rows of partial[rows][columns]
  template <class T, class U>
  void column_sums(std::int64_t rows, std::int64_t columns, const U* partial, T* out, bool add) {
    with_index_type(rows * columns, [&](auto i) {
      using I = decltype(i);
      be.launch(columns, column_sums_body<T, U, I>{I(rows), I(columns), partial, out, add}, "strata column_sums");
    });
  }
  // db[k] = Σ over images and the plane of dy[b][k][·]
  template <class T>
  void bias_gradient(std::int64_t images, std::int64_t K, std::int64_t plane, const T* dy, T* db) {
    auto partial = be.template workspace<compute_t<T>>(images * K);
    with_index_type(images * K * plane, [&](auto i) {
      using I = decltype(i);
      be.launch(images * K, plane_sums_body<T, I>{I(images * K), I(plane), dy, partial.data()}, "strata plane_sums");
    });
    column_sums(images, K, partial.data(), db, false);
  }

  // im2col + GEMM: a chunk of images' patch matrices, then one strided-batched GEMM of the
  // filters (stride 0) with every patch matrix of the chunk.
  template <class T>
  void im2col_forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y) {
    const std::int64_t PQ = g.P() * g.Q(), CRS = g.patch(), K = g.K;
    const std::int64_t chunk = images_per_chunk(n, CRS * PQ, budget);
    auto col = be.template workspace<T>(chunk * CRS * PQ);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0);
      im2col(g, nb, x + b0 * g.input_elements(), col.data());
      be.template gemm<T>(false, false, K, PQ, CRS, w, CRS, 0, col.data(), PQ, CRS * PQ, y + b0 * K * PQ, PQ, K * PQ, nb);
    }
    if (b) add_bias(n, K, PQ, b, y);
  }
  // dcol = Wᵀ·dy per image, folded back by col2im.
  template <class T>
  void im2col_backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    const std::int64_t PQ = g.P() * g.Q(), CRS = g.patch(), K = g.K;
    const std::int64_t chunk = images_per_chunk(n, CRS * PQ, budget);
    auto col = be.template workspace<T>(chunk * CRS * PQ);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0);
      be.template gemm<T>(true, false, CRS, PQ, K, w, CRS, 0, dy + b0 * K * PQ, PQ, K * PQ, col.data(), PQ, CRS * PQ, nb);
      col2im(g, nb, col.data(), dx + b0 * g.input_elements());
    }
  }
  // dW = Σ_b dy[b]·col[b]ᵀ: per-image products of a chunk, then summed over the chunk's images.
  template <class T>
  void im2col_backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    const std::int64_t PQ = g.P() * g.Q(), CRS = g.patch(), K = g.K;
    const std::int64_t chunk = images_per_chunk(n, std::max(CRS * PQ, K * CRS), budget);
    auto col = be.template workspace<T>(chunk * CRS * PQ);
    auto per_image = be.template workspace<T>(chunk * K * CRS);
    if (n == 0) be.fill_zero(dw, K * CRS);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0);
      im2col(g, nb, x + b0 * g.input_elements(), col.data());
      be.template gemm<T>(false, true, K, CRS, PQ, dy + b0 * K * PQ, PQ, K * PQ, col.data(), PQ, CRS * PQ, per_image.data(), CRS,
                          K * CRS, nb);
      column_sums(nb, K * CRS, per_image.data(), dw, b0 > 0);
    }
    if (db) bias_gradient(n, K, PQ, dy, db);
  }

  // 1×1, stride 1, no padding: the input is the patch matrix.
  template <class T>
  void pointwise_forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y) {
    const std::int64_t HW = g.H * g.W, C = g.C, K = g.K;
    be.template gemm<T>(false, false, K, HW, C, w, C, 0, x, HW, C * HW, y, HW, K * HW, n);
    if (b) add_bias(n, K, HW, b, y);
  }
  template <class T>
  void pointwise_backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    const std::int64_t HW = g.H * g.W, C = g.C, K = g.K;
    be.template gemm<T>(true, false, C, HW, K, w, C, 0, dy, HW, K * HW, dx, HW, C * HW, n);
  }
  template <class T>
  void pointwise_backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    const std::int64_t HW = g.H * g.W, C = g.C, K = g.K;
    const std::int64_t chunk = images_per_chunk(n, K * C, budget);
    auto per_image = be.template workspace<T>(chunk * K * C);
    if (n == 0) be.fill_zero(dw, K * C);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0);
      be.template gemm<T>(false, true, K, C, HW, dy + b0 * K * HW, HW, K * HW, x + b0 * C * HW, HW, C * HW, per_image.data(), C,
                          K * C, nb);
      column_sums(nb, K * C, per_image.data(), dw, b0 > 0);
    }
    if (db) bias_gradient(n, K, HW, dy, db);
  }

  // Winograd F(2×2, 3×3), stride 1: filters transformed once per call, then per chunk of images
  // the input transform, 16 GEMMs (one strided-batched call: [K×C]·[C×tiles] per ξν) and the
  // output transform. `rotated`: the backward-data pass, a forward pass over dy with the filters
  // turned by 180° and transposed and padding 2 − pad.
  template <class T>
  void winograd_forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y,
                        bool rotated = false) {
    const std::int64_t P = g.P(), Q = g.Q(), ty = (P + 1) / 2, tx = (Q + 1) / 2, per_image = ty * tx, C = g.C, K = g.K;
    auto U = be.template workspace<T>(16 * K * C);
    be.launch(K * C, winograd_filter_body<T>{K, C, rotated, w, U.data()}, "strata winograd filters");
    const std::int64_t chunk = images_per_chunk(n, 16 * std::max(C, K) * per_image, budget);
    auto V = be.template workspace<T>(16 * C * chunk * per_image);
    auto M = be.template workspace<T>(16 * K * chunk * per_image);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0), tiles = nb * per_image;
      with_index_type(std::max({16 * std::max(C, K) * tiles, nb * g.input_elements(), nb * g.output_elements()}), [&](auto i) {
        using I = decltype(i);
        be.launch(C * tiles, winograd_input_body<T, I>{I(C), I(g.H), I(g.W), I(g.pad_y), I(g.pad_x), I(ty), I(tx), I(nb),
                                                       x + b0 * g.input_elements(), V.data()},
                  "strata winograd input");
        be.template gemm<T>(false, false, K, tiles, C, U.data(), C, K * C, V.data(), tiles, C * tiles, M.data(), tiles, K * tiles,
                            16);
        be.launch(K * tiles, winograd_output_body<T, I>{I(K), I(P), I(Q), I(ty), I(tx), I(nb), M.data(), b,
                                                        y + b0 * g.output_elements()},
                  "strata winograd output");
      });
    }
  }
  template <class T>
  void winograd_backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    const conv_geometry back{g.K, g.P(), g.Q(), g.C, 3, 3, 1, 1, 2 - g.pad_y, 2 - g.pad_x};
    winograd_forward(back, n, dy, w, static_cast<const T*>(nullptr), dx, true);
  }

  // Depthwise (groups == C == K): direct loops, one thread per output or input; the filter
  // gradient per image and tap, then summed over the images.
  template <class T>
  void depthwise_forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, T lo, T hi) {
    const std::int64_t total = n * g.output_elements();
    with_index_type(std::max(total, n * g.input_elements()), [&](auto i) {
      using I = decltype(i);
      be.launch(total, depthwise_forward_body<T, I>{conv_sizes<I>::of(g), I(n), x, w, b, y, lo, hi}, "strata depthwise forward");
    });
  }
  template <class T>
  void depthwise_backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    const std::int64_t total = n * g.input_elements();
    with_index_type(std::max(total, n * g.output_elements()), [&](auto i) {
      using I = decltype(i);
      be.launch(total, depthwise_backward_data_body<T, I>{conv_sizes<I>::of(g), I(n), w, dy, dx}, "strata depthwise backward data");
    });
  }
  template <class T>
  void depthwise_backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    const std::int64_t taps = g.C * g.R * g.S;
    if (n == 0) be.fill_zero(dw, taps);
    auto partial = be.template workspace<compute_t<T>>(n * taps);
    with_index_type(std::max({n * taps, n * g.input_elements(), n * g.output_elements()}), [&](auto i) {
      using I = decltype(i);
      be.launch(n * taps, depthwise_filter_partial_body<T, I>{conv_sizes<I>::of(g), I(n), x, dy, partial.data()},
                "strata depthwise filter gradient");
    });
    if (n > 0) column_sums(n, taps, partial.data(), dw, false);
    if (db) bias_gradient(n, g.C, g.P() * g.Q(), dy, db);
  }
};

}  // namespace strata::kernels::cuda_body
