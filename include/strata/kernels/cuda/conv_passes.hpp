// strata/kernels/cuda/conv_passes.hpp — the GPU's convolution passes as sequences of GEMMs and
// per-thread bodies (kernels/cuda/conv_body.hpp) over a Backend that provides them: cuBLAS and
// kernel launches on the GPU (kernels/cuda/conv.cuh), a plain GEMM and the grid emulator on the
// CPU (the cuda_emulated tests), so the chunking, strides and leading dimensions handed to the
// GEMMs are checked without a GPU too. Plain C++: compiles with g++ as well as nvcc.
//
// A Backend has: workspace<T>(n) (an owner with data()), fill_zero(p, n), launch(items, body,
// name), and gemm<T>(trans_a, trans_b, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc,
// stride_c, batch): row-major C[i] = op(A[i])·op(B[i]) for `batch` matrices (alpha 1, beta 0);
// for the FFT passes (float and double) also complex_gemm<T>(same arguments, pointers to
// interleaved complex numbers, sizes and strides counted in complex numbers), rfft2<T>(planes, h,
// w, real, spectrum) (each h×w plane to h×(w/2 + 1) complex numbers) and irfft2<T>(planes, h, w,
// spectrum, real) (unnormalised; may overwrite the spectrum).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cuda/conv_body.hpp"
#include "strata/kernels/cuda/depthwise_body.hpp"
#include "strata/kernels/cuda/fft_conv_body.hpp"
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

  // Winograd F(m×m, 3×3) tiles of m×m outputs: tiles_y × tiles_x per image.
  template <int M>
  struct winograd_tiles {
    std::int64_t y, x, per_image;
    static winograd_tiles of(const conv_geometry& g) {
      const std::int64_t ty = (g.P() + M - 1) / M, tx = (g.Q() + M - 1) / M;
      return {ty, tx, ty * tx};
    }
  };
  // V[ξν][c][tile] for the tiles of nb images.
  template <int M, class T>
  void winograd_input(const conv_geometry& g, std::int64_t nb, const winograd_tiles<M>& t, const T* x, T* V) {
    const std::int64_t tiles = nb * t.per_image;
    with_index_type(std::max((M + 2) * (M + 2) * g.C * tiles, nb * g.input_elements()), [&](auto i) {
      using I = decltype(i);
      be.launch(g.C * tiles,
                winograd_input_body<M, T, I>{I(g.C), I(g.H), I(g.W), I(g.pad_y), I(g.pad_x), I(t.y), I(t.x), I(nb), x, V},
                "strata winograd input");
    });
  }

  // Winograd F(m×m, 3×3), stride 1: filters transformed once per call, then per chunk of images
  // the input transform, α² GEMMs (one strided-batched call: [K×C]·[C×tiles] per ξν) and the
  // output transform. `rotated`: the backward-data pass, a forward pass over dy with the filters
  // turned by 180° and transposed and padding 2 − pad.
  template <int M, class T>
  void winograd_forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y,
                        bool rotated = false) {
    constexpr std::int64_t A2 = (M + 2) * (M + 2);
    const auto t = winograd_tiles<M>::of(g);
    const std::int64_t C = g.C, K = g.K;
    auto U = be.template workspace<T>(A2 * K * C);
    be.launch(K * C, winograd_filter_body<M, T>{K, C, rotated, w, U.data()}, "strata winograd filters");
    const std::int64_t chunk = images_per_chunk(n, A2 * std::max(C, K) * t.per_image, budget);
    auto V = be.template workspace<T>(A2 * C * chunk * t.per_image);
    auto products = be.template workspace<T>(A2 * K * chunk * t.per_image);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0), tiles = nb * t.per_image;
      winograd_input(g, nb, t, x + b0 * g.input_elements(), V.data());
      be.template gemm<T>(false, false, K, tiles, C, U.data(), C, K * C, V.data(), tiles, C * tiles, products.data(), tiles,
                          K * tiles, A2);
      with_index_type(std::max(A2 * K * tiles, nb * g.output_elements()), [&](auto i) {
        using I = decltype(i);
        be.launch(K * tiles, winograd_output_body<M, T, I>{I(K), I(g.P()), I(g.Q()), I(t.y), I(t.x), I(nb), products.data(), b,
                                                           y + b0 * g.output_elements()},
                  "strata winograd output");
      });
    }
  }
  template <int M, class T>
  void winograd_backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    const conv_geometry back{g.K, g.P(), g.Q(), g.C, 3, 3, 1, 1, 2 - g.pad_y, 2 - g.pad_x};
    winograd_forward<M>(back, n, dy, w, static_cast<const T*>(nullptr), dx, true);
  }

  // The Winograd filter gradient, the adjoint of the forward pass: per chunk the input transform
  // V and the output-gradient transform dM = A dY Aᵀ, α² GEMMs dU = dM·Vᵀ (K×tiles · tiles×C), and
  // dw (+)= Gᵀ dU G.
  template <int M, class T>
  void winograd_backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    constexpr std::int64_t A2 = (M + 2) * (M + 2);
    const auto t = winograd_tiles<M>::of(g);
    const std::int64_t C = g.C, K = g.K;
    if (n == 0) be.fill_zero(dw, g.weight_elements());
    const std::int64_t chunk = images_per_chunk(n, A2 * (C + K) * t.per_image, budget);
    auto V = be.template workspace<T>(A2 * C * chunk * t.per_image);
    auto dM = be.template workspace<T>(A2 * K * chunk * t.per_image);
    auto dU = be.template workspace<T>(A2 * K * C);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0), tiles = nb * t.per_image;
      winograd_input(g, nb, t, x + b0 * g.input_elements(), V.data());
      with_index_type(std::max(A2 * K * tiles, nb * g.output_elements()), [&](auto i) {
        using I = decltype(i);
        be.launch(K * tiles, winograd_output_adjoint_body<M, T, I>{I(K), I(g.P()), I(g.Q()), I(t.y), I(t.x), I(nb),
                                                                   dy + b0 * g.output_elements(), dM.data()},
                  "strata winograd output gradient");
      });
      be.template gemm<T>(false, true, K, C, tiles, dM.data(), tiles, K * tiles, V.data(), tiles, C * tiles, dU.data(), C, K * C,
                          A2);
      be.launch(K * C, winograd_filter_adjoint_body<M, T>{K, C, b0 > 0, dU.data(), dw}, "strata winograd filter gradient");
    }
    if (db) bias_gradient(n, K, g.P() * g.Q(), dy, db);
  }

  // FFT convolution, stride 1, any kernel and padding: planes zero-extended onto an fy×fx grid
  // (fast cuFFT sizes ≥ the padded input), real FFTs, one complex GEMM per frequency (batched)
  // over channels, inverse FFTs, the result cut out of the grid and scaled by 1/(fy·fx).
  // Forward: Ŷ(k, b) = Σ_c conj(Ŵ(k, c))·X̂(c, b) (correlation); backward data: dX̂(c, b) =
  // Σ_k Ŵ(k, c)·dŶ(k, b) (the adjoint, a convolution); backward filter: dŴ(c, k) = Σ_b X̂(c, b)·
  // conj(dŶ(k, b)). The padded input sits at (pad_y, pad_x) on the grid, so nothing wraps around.
  struct fft_grid {
    std::int64_t fy, fx, area, bins;  // grid, its elements, complex numbers per spectrum
    static fft_grid of(const conv_geometry& g) {
      const std::int64_t fy = fft_friendly_size(g.H + 2 * g.pad_y), fx = fft_friendly_size(g.W + 2 * g.pad_x);
      return {fy, fx, fy * fx, fy * (fx / 2 + 1)};
    }
  };
  // Elements an FFT pass needs per image (so that chunks stay within the budget).
  static std::int64_t fft_per_image(const conv_geometry& g) {
    const auto fg = fft_grid::of(g);
    return std::max(g.C, g.K) * (fg.area + 6 * fg.bins);
  }
  // Planes of h×w at (oy, ox) on the grid, transformed: spectra [planes][bins] (complex).
  template <class T>
  void extend_and_transform(const fft_grid& fg, std::int64_t planes, std::int64_t h, std::int64_t w, std::int64_t oy,
                            std::int64_t ox, const T* src, T* grid, T* spectra) {
    with_index_type(std::max(planes * fg.area, planes * 2 * fg.bins), [&](auto i) {
      using I = decltype(i);
      be.launch(planes * fg.area, fft_extend_body<T, I>{I(planes), I(h), I(w), I(fg.fy), I(fg.fx), I(oy), I(ox), src, grid},
                "strata fft extend");
    });
    be.template rfft2<T>(planes, fg.fy, fg.fx, grid, spectra);
  }
  template <class T>
  void to_frequency_major(const fft_grid& fg, std::int64_t outer, std::int64_t inner, bool conjugate, const T* from, T* to) {
    with_index_type(2 * outer * inner * fg.bins, [&](auto i) {
      using I = decltype(i);
      be.launch(outer * inner * fg.bins, to_frequency_major_body<T, I>{I(outer), I(inner), I(fg.bins), conjugate, from, to},
                "strata fft to frequency-major");
    });
  }
  // Frequency-major products [bins][inner][outer] back to planes [outer][inner], inverse
  // transformed and the h×w window at (oy, ox) cut out into dst (scaled; bias; accumulated).
  template <class T>
  void inverse_and_crop(const fft_grid& fg, std::int64_t outer, std::int64_t inner, const T* products, T* spectra, T* grid,
                        std::int64_t h, std::int64_t w, std::int64_t oy, std::int64_t ox, const T* bias, bool accumulate,
                        T* dst) {
    const std::int64_t planes = outer * inner;
    with_index_type(std::max(planes * fg.area, planes * 2 * fg.bins), [&](auto i) {
      using I = decltype(i);
      be.launch(planes * fg.bins, from_frequency_major_body<T, I>{I(outer), I(inner), I(fg.bins), products, spectra},
                "strata fft from frequency-major");
      be.template irfft2<T>(planes, fg.fy, fg.fx, spectra, grid);
      be.launch(planes * h * w,
                fft_crop_body<T, I>{I(planes), I(h), I(w), I(fg.fy), I(fg.fx), I(oy), I(ox), I(inner),
                                    T(1) / T(fg.area), grid, bias, accumulate, dst},
                "strata fft crop");
    });
  }
  // The filters' spectra, frequency-major [bins][C][K] (conjugated for the forward pass).
  template <class T>
  auto filter_spectra(const conv_geometry& g, const fft_grid& fg, const T* w, bool conjugate) {
    const std::int64_t planes = g.K * g.C;
    auto grid = be.template workspace<T>(planes * fg.area);
    auto raw = be.template workspace<T>(planes * 2 * fg.bins);
    auto spectra = be.template workspace<T>(planes * 2 * fg.bins);
    extend_and_transform(fg, planes, g.R, g.S, 0, 0, w, grid.data(), raw.data());
    to_frequency_major(fg, g.K, g.C, conjugate, raw.data(), spectra.data());
    return spectra;
  }

  // Planes of `channels` channels of h×w, at (oy, ox) on the grid: an FFT pass's input or output.
  struct fft_planes {
    std::int64_t channels, h, w, oy, ox;
    std::int64_t elements() const { return channels * h * w; }
  };
  // The passes through the filters, per chunk of images: the input's spectra, one complex GEMM per
  // frequency with the filters' spectra ([bins][C][K]: forward conj(Ŵ)ᵀ·X̂, backward data Ŵ·dŶ),
  // the inverse cut out into the output (bias added).
  template <class T>
  void fft_through_filters(const conv_geometry& g, std::int64_t n, const T* w, bool forward, const T* src, fft_planes in,
                           const T* bias, T* dst, fft_planes out) {
    const auto fg = fft_grid::of(g);
    const auto wt = filter_spectra(g, fg, w, forward);
    const std::int64_t chunk = images_per_chunk(n, fft_per_image(g), budget), most = std::max(g.C, g.K);
    auto grid = be.template workspace<T>(chunk * most * fg.area);
    auto raw = be.template workspace<T>(chunk * most * 2 * fg.bins);
    auto it = be.template workspace<T>(chunk * in.channels * 2 * fg.bins);
    auto ot = be.template workspace<T>(chunk * out.channels * 2 * fg.bins);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0);
      extend_and_transform(fg, nb * in.channels, in.h, in.w, in.oy, in.ox, src + b0 * in.elements(), grid.data(), raw.data());
      to_frequency_major(fg, nb, in.channels, false, raw.data(), it.data());
      be.template complex_gemm<T>(forward, false, out.channels, nb, in.channels, wt.data(), g.K, g.C * g.K, it.data(), nb,
                                  in.channels * nb, ot.data(), nb, out.channels * nb, fg.bins);
      inverse_and_crop(fg, nb, out.channels, ot.data(), raw.data(), grid.data(), out.h, out.w, out.oy, out.ox, bias, false,
                       dst + b0 * out.elements());
    }
  }
  template <class T>
  void fft_forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y) {
    fft_through_filters(g, n, w, true, x, {g.C, g.H, g.W, g.pad_y, g.pad_x}, b, y, {g.K, g.P(), g.Q(), 0, 0});
  }
  template <class T>
  void fft_backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    fft_through_filters(g, n, w, false, dy, {g.K, g.P(), g.Q(), 0, 0}, static_cast<const T*>(nullptr), dx,
                        {g.C, g.H, g.W, g.pad_y, g.pad_x});
  }
  template <class T>
  void fft_backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    const auto fg = fft_grid::of(g);
    const std::int64_t C = g.C, K = g.K, most = std::max(C, K);
    if (n == 0) be.fill_zero(dw, g.weight_elements());
    const std::int64_t chunk = images_per_chunk(n, fft_per_image(g), budget);
    auto grid = be.template workspace<T>(std::max(chunk * most, K * C) * fg.area);
    auto raw = be.template workspace<T>(std::max(chunk * most, K * C) * 2 * fg.bins);
    auto xt = be.template workspace<T>(chunk * C * 2 * fg.bins);
    auto dyt = be.template workspace<T>(chunk * K * 2 * fg.bins);
    auto dwt = be.template workspace<T>(C * K * 2 * fg.bins);
    for (std::int64_t b0 = 0; b0 < n; b0 += chunk) {
      const std::int64_t nb = std::min(chunk, n - b0);
      extend_and_transform(fg, nb * C, g.H, g.W, g.pad_y, g.pad_x, x + b0 * g.input_elements(), grid.data(), raw.data());
      to_frequency_major(fg, nb, C, false, raw.data(), xt.data());
      extend_and_transform(fg, nb * K, g.P(), g.Q(), 0, 0, dy + b0 * g.output_elements(), grid.data(), raw.data());
      to_frequency_major(fg, nb, K, true, raw.data(), dyt.data());
      be.template complex_gemm<T>(false, true, C, K, nb, xt.data(), nb, C * nb, dyt.data(), nb, K * nb, dwt.data(), K, C * K,
                                  fg.bins);
      inverse_and_crop(fg, K, C, dwt.data(), raw.data(), grid.data(), g.R, g.S, 0, 0, static_cast<const T*>(nullptr), b0 > 0,
                       dw);
    }
    if (db) bias_gradient(n, K, g.P() * g.Q(), dy, db);
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
