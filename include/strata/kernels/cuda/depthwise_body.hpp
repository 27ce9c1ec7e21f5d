// strata/kernels/cuda/depthwise_body.hpp — what each GPU thread of a depthwise convolution (one
// filter per channel, weights [C, 1, R, S]) does, as host-and-device functors of its grid_index:
// forward one thread per output (bias and clamp fused), backward data one thread per input
// gathering the outputs that read it, and the filter gradient per (image, channel, tap), summed
// over images afterwards (conv_body.hpp's column sums). Plain C++: compiles with g++ and nvcc.
#pragma once

#include <cstdint>

#include "strata/config.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/kernels/cuda/conv_body.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::kernels::cuda_body {

// y[b][c][p][q] = clamp(Σ_rs x[b][c][p·sy − py + r][q·sx − px + s]·w[c][r][s] + bias[c], lo, hi)
template <class T, class I>
struct depthwise_forward_body {
  conv_sizes<I> z;
  I images;
  const T* x;
  const T* w;
  const T* bias;  // or null
  T* y;
  T lo, hi;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    const I PQ = z.P * z.Q, total = images * z.C * PQ;
    const compute_t<T> low = traits::to_compute(lo), high = traits::to_compute(hi);
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I q = i % z.Q, p = i / z.Q % z.P, c = i / PQ % z.C, b = i / (PQ * z.C);
      const T* plane = x + (b * z.C + c) * z.H * z.W;
      const T* filter = w + c * z.R * z.S;
      compute_t<T> sum = bias ? traits::to_compute(bias[c]) : compute_t<T>(0);
      for (I r = 0; r < z.R; ++r) {
        const I h = p * z.sy - z.py + r;
        if (h < 0 || h >= z.H) continue;
        for (I s = 0; s < z.S; ++s) {
          const I col = q * z.sx - z.px + s;
          if (col < 0 || col >= z.W) continue;
          sum += traits::to_compute(plane[h * z.W + col]) * traits::to_compute(filter[r * z.S + s]);
        }
      }
      y[i] = traits::from_compute(sum < low ? low : sum > high ? high : sum);
    }
  }
};

// dx[b][c][h][w] = Σ over the outputs (p, q) and taps (r, s) that read (h, w) of dy·w.
template <class T, class I>
struct depthwise_backward_data_body {
  conv_sizes<I> z;
  I images;
  const T* w;
  const T* dy;
  T* dx;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    const I HW = z.H * z.W, PQ = z.P * z.Q, total = images * z.C * HW;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I col = i % z.W, h = i / z.W % z.H, c = i / HW % z.C, b = i / (HW * z.C);
      const T* grad = dy + (b * z.C + c) * PQ;
      const T* filter = w + c * z.R * z.S;
      compute_t<T> sum = 0;
      for (I r = 0; r < z.R; ++r) {
        const I ph = h + z.py - r;
        if (ph < 0 || ph % z.sy != 0 || ph / z.sy >= z.P) continue;
        for (I s = 0; s < z.S; ++s) {
          const I qw = col + z.px - s;
          if (qw < 0 || qw % z.sx != 0 || qw / z.sx >= z.Q) continue;
          sum += traits::to_compute(grad[ph / z.sy * z.Q + qw / z.sx]) * traits::to_compute(filter[r * z.S + s]);
        }
      }
      dx[i] = traits::from_compute(sum);
    }
  }
};

// partial[b][c·R·S + r·S + s] = Σ_pq dy[b][c][p][q]·x[b][c][p·sy − py + r][q·sx − px + s]
template <class T, class I>
struct depthwise_filter_partial_body {
  conv_sizes<I> z;
  I images;
  const T* x;
  const T* dy;
  compute_t<T>* partial;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    const I RS = z.R * z.S, total = images * z.C * RS;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I s = i % z.S, r = i / z.S % z.R, c = i / RS % z.C, b = i / (RS * z.C);
      const T* plane = x + (b * z.C + c) * z.H * z.W;
      const T* grad = dy + (b * z.C + c) * z.P * z.Q;
      compute_t<T> sum = 0;
      for (I p = 0; p < z.P; ++p) {
        const I h = p * z.sy - z.py + r;
        if (h < 0 || h >= z.H) continue;
        for (I q = 0; q < z.Q; ++q) {
          const I col = q * z.sx - z.px + s;
          if (col < 0 || col >= z.W) continue;
          sum += traits::to_compute(grad[p * z.Q + q]) * traits::to_compute(plane[h * z.W + col]);
        }
      }
      partial[i] = sum;
    }
  }
};

}  // namespace strata::kernels::cuda_body
