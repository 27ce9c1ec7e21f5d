// strata/kernels/cpu/fixed_pooling.hpp — pooling of fixed-point batches on the CPU, on the raw
// integers: max pooling is exact (the float kernel's 2×2 selects on int16), average pooling sums
// exactly and rounds once to nearest, backward sums saturate.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/pooling.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/numeric/fixed.hpp"

namespace strata::kernels::cpu {

namespace fixed_detail {
template <class T>
using raw_t = typename T::raw_type;

// round(num / den) to nearest, ties up, for den > 0.
constexpr std::int64_t divide_nearest(std::int64_t num, std::int64_t den) {
  const std::int64_t twice = 2 * num + den;
  const std::int64_t q = twice / (2 * den);
  return (twice % (2 * den) != 0 && twice < 0) ? q - 1 : q;  // floor
}

// The float kernel on the raw integers: order is the same, so the maxima and their places are.
template <class T>
void max_pool_forward(const pool_geometry& g, std::int64_t N, const T* x, T* y, std::int32_t* argmax) {
  using R = raw_t<T>;
  cpu::max_pool_forward(g, N, reinterpret_cast<const R*>(x), reinterpret_cast<R*>(y), argmax);
}

// Overlapping windows may send several gradients to one input: summed exactly, saturated once.
template <class T>
void max_pool_backward(const pool_geometry& g, std::int64_t N, const T* dys, const std::int32_t* argmax, T* dxs) {
  using R = raw_t<T>;
  const R* dy = reinterpret_cast<const R*>(dys);
  R* dx = reinterpret_cast<R*>(dxs);
  const std::int64_t PQ = g.P() * g.Q(), HW = g.H * g.W;
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    std::vector<std::int64_t> sum(static_cast<std::size_t>(HW));
    for (std::int64_t plane = b; plane < e; ++plane) {
      std::fill(sum.begin(), sum.end(), 0);
      for (std::int64_t i = 0; i < PQ; ++i) sum[std::size_t(argmax[plane * PQ + i])] += dy[plane * PQ + i];
      for (std::int64_t i = 0; i < HW; ++i) dx[plane * HW + i] = T::saturate(sum[std::size_t(i)]);
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, g.H * g.W)));
}

// The window's exact sum divided by the full window (padding included, as the float kernel),
// rounded to nearest.
template <class T>
void avg_pool_forward(const pool_geometry& g, std::int64_t N, const T* xs, T* ys) {
  using R = raw_t<T>;
  const R* x = reinterpret_cast<const R*>(xs);
  R* y = reinterpret_cast<R*>(ys);
  const std::int64_t P = g.P(), Q = g.Q(), area = g.window * g.window;
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      const R* in = x + plane * g.H * g.W;
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          const auto [y0, y1, x0, x1] = g.bounds(p, q);
          std::int64_t acc = 0;
          for (std::int64_t iy = y0; iy < y1; ++iy)
            for (std::int64_t ix = x0; ix < x1; ++ix) acc += in[iy * g.W + ix];
          y[(plane * P + p) * Q + q] = T::saturate(divide_nearest(acc, area));
        }
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, g.H * g.W)));
}

// Each input gathers Σ dy / area over the windows that cover it, rounded once.
template <class T>
void avg_pool_backward(const pool_geometry& g, std::int64_t N, const T* dys, T* dxs) {
  using R = raw_t<T>;
  const R* dy = reinterpret_cast<const R*>(dys);
  R* dx = reinterpret_cast<R*>(dxs);
  const std::int64_t P = g.P(), Q = g.Q(), HW = g.H * g.W, area = g.window * g.window;
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    std::vector<std::int64_t> sum(static_cast<std::size_t>(HW));
    for (std::int64_t plane = b; plane < e; ++plane) {
      std::fill(sum.begin(), sum.end(), 0);
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          const std::int64_t v = dy[(plane * P + p) * Q + q];
          const auto [y0, y1, x0, x1] = g.bounds(p, q);
          for (std::int64_t iy = y0; iy < y1; ++iy)
            for (std::int64_t ix = x0; ix < x1; ++ix) sum[std::size_t(iy * g.W + ix)] += v;
        }
      for (std::int64_t i = 0; i < HW; ++i) dx[plane * HW + i] = T::saturate(divide_nearest(sum[std::size_t(i)], area));
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, g.H * g.W)));
}
}  // namespace fixed_detail

}  // namespace strata::kernels::cpu

namespace strata::kernels {

template <int B, int F, rounding R>
struct op_kernel<op::max_pool, strata::cpu, fixed<B, F, R>> {
  using T = fixed<B, F, R>;
  static void forward(const pool_geometry& g, std::int64_t n, const T* x, T* y, std::int32_t* argmax) {
    cpu::fixed_detail::max_pool_forward(g, n, x, y, argmax);
  }
  static void backward(const pool_geometry& g, std::int64_t n, const T* dy, const std::int32_t* argmax, T* dx) {
    cpu::fixed_detail::max_pool_backward(g, n, dy, argmax, dx);
  }
};

template <int B, int F, rounding R>
struct op_kernel<op::avg_pool, strata::cpu, fixed<B, F, R>> {
  using T = fixed<B, F, R>;
  static void forward(const pool_geometry& g, std::int64_t n, const T* x, T* y) { cpu::fixed_detail::avg_pool_forward(g, n, x, y); }
  static void backward(const pool_geometry& g, std::int64_t n, const T* dy, T* dx) {
    cpu::fixed_detail::avg_pool_backward(g, n, dy, dx);
  }
};

}  // namespace strata::kernels
