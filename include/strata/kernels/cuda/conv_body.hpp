// strata/kernels/cuda/conv_body.hpp — what each GPU thread of an im2col convolution does, as
// host-and-device functors of its grid_index: patch matrices (im2col), patch gradients folded
// back into images (col2im, as a gather, so no atomics and a fixed summation order), the bias
// and its gradient. kernels/cuda/conv.cuh launches them; the cuda_emulated tests run them on the
// CPU. Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <cstdint>

#include "strata/config.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::kernels::cuda_body {

using cuda_grid::grid_index;

// Flat index arithmetic runs in I: 32-bit where the largest index fits (divisions by a runtime
// divisor cost several times more in 64 bits), 64-bit otherwise; the launcher chooses.
template <class I>
struct conv_sizes {
  I C, H, W, R, S, sy, sx, py, px, P, Q;
  static conv_sizes of(const conv_geometry& g) {
    return {I(g.C), I(g.H), I(g.W), I(g.R), I(g.S), I(g.stride_y), I(g.stride_x),
            I(g.pad_y), I(g.pad_x), I(g.P()), I(g.Q())};
  }
};

// col[b][(c·R + r)·S + s][p·Q + q] = x[b][c][p·sy − py + r][q·sx − px + s], zero outside the
// image, for `images` images: one thread per element of col.
template <class T, class I>
struct im2col_body {
  conv_sizes<I> z;
  I images;
  const T* x;
  T* col;
  STRATA_HD void operator()(const grid_index& t) const {
    const I PQ = z.P * z.Q, RS = z.R * z.S, rows = z.C * RS, total = images * rows * PQ;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I pq = i % PQ, row = (i / PQ) % rows, b = i / (PQ * rows);
      const I c = row / RS, r = row % RS / z.S, s = row % z.S;
      const I h = pq / z.Q * z.sy - z.py + r, w = pq % z.Q * z.sx - z.px + s;
      col[i] = h >= 0 && h < z.H && w >= 0 && w < z.W ? x[((b * z.C + c) * z.H + h) * z.W + w] : T(0);
    }
  }
};

// dx[b][c][h][w] = Σ over the patch entries that read (h, w), taps r then s ascending: one thread
// per input element (the transpose of im2col).
template <class T, class I>
struct col2im_body {
  conv_sizes<I> z;
  I images;
  const T* col;
  T* dx;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    const I PQ = z.P * z.Q, RS = z.R * z.S, HW = z.H * z.W, total = images * z.C * HW;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I w = i % z.W, h = i / z.W % z.H, c = i / HW % z.C, b = i / (HW * z.C);
      const T* patch = col + (b * z.C + c) * RS * PQ;
      compute_t<T> sum = 0;
      for (I r = 0; r < z.R; ++r) {
        const I ph = h + z.py - r;  // = p·sy for the output row p that reads (h, w) through tap r
        if (ph < 0 || ph % z.sy != 0 || ph / z.sy >= z.P) continue;
        for (I s = 0; s < z.S; ++s) {
          const I qw = w + z.px - s;
          if (qw < 0 || qw % z.sx != 0 || qw / z.sx >= z.Q) continue;
          sum += traits::to_compute(patch[(r * z.S + s) * PQ + ph / z.sy * z.Q + qw / z.sx]);
        }
      }
      dx[i] = traits::from_compute(sum);
    }
  }
};

// y[b][k][·] += bias[k] over `images` images of K planes of `plane` elements.
template <class T, class I>
struct add_bias_body {
  I K, plane, images;
  const T* bias;
  T* y;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    const I total = images * K * plane;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t)))
      y[i] = traits::from_compute(traits::to_compute(y[i]) + traits::to_compute(bias[i / plane % K]));
  }
};

// The bias gradient in two deterministic steps: partial[b][k] = Σ over plane of dy[b][k][·] (one
// thread per (b, k)), then db[k] = Σ_b partial[b][k] (one thread per k), both in compute type.
template <class T, class I>
struct plane_sums_body {
  I planes, plane;
  const T* dy;
  compute_t<T>* partial;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    for (I i = I(cuda_grid::global_x(t)); i < planes; i += I(cuda_grid::threads_x(t))) {
      compute_t<T> sum = 0;
      for (I j = 0; j < plane; ++j) sum += traits::to_compute(dy[i * plane + j]);
      partial[i] = sum;
    }
  }
};
template <class T, class U, class I>
struct column_sums_body {
  I rows, columns;
  const U* partial;  // [rows][columns]
  T* out;
  bool add;  // out += the sums (a chunk after the first)
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    for (I k = I(cuda_grid::global_x(t)); k < columns; k += I(cuda_grid::threads_x(t))) {
      compute_t<T> sum = add ? traits::to_compute(out[k]) : compute_t<T>(0);
      for (I b = 0; b < rows; ++b) sum += precision_traits<U>::to_compute(partial[b * columns + k]);
      out[k] = traits::from_compute(sum);
    }
  }
};

}  // namespace strata::kernels::cuda_body
