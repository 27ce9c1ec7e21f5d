// strata/kernels/cuda/pool_body.hpp — what each GPU thread of max and average pooling does, as
// host-and-device functors of its grid_index: forward passes one thread per output, backward
// passes one thread per input gathering from the windows that cover it, in the CPU kernels'
// order (max pooling's results equal the CPU's bit for bit, average pooling's to rounding); sums
// run in the precision's compute type (fp32 for fp16). kernels/cuda/pooling.cuh launches them;
// the cuda_emulated tests run them on the CPU. Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <cstdint>
#include <limits>

#include "strata/config.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/kernels/pool_geometry.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::kernels::cuda_body {

using cuda_grid::grid_index;

// The outputs [lo, hi) along one axis whose windows cover input coordinate v.
struct covering {
  std::int64_t lo, hi;
  STRATA_HD static covering of(std::int64_t v, std::int64_t window, std::int64_t stride, std::int64_t pad,
                               std::int64_t outputs) {
    // Output o covers [o·stride − pad, o·stride − pad + window): o·stride ≤ v + pad < o·stride + window.
    const std::int64_t top = v + pad - window;  // o·stride > top
    const std::int64_t lo = top < 0 ? 0 : top / stride + 1;
    const std::int64_t hi = (v + pad) / stride + 1;
    return {lo, hi < outputs ? hi : outputs};
  }
};

// y = max over each window, argmax = y·W + x of the first maximum (NaN wins, as on the CPU).
template <class T>
struct max_pool_forward_body {
  pool_geometry g;
  std::int64_t planes;
  const T* x;
  T* y;
  std::int32_t* argmax;
  STRATA_HD void operator()(const grid_index& t) const {
    const std::int64_t P = g.P(), Q = g.Q(), total = planes * P * Q;
    for (std::int64_t o = cuda_grid::global_x(t); o < total; o += cuda_grid::threads_x(t)) {
      const std::int64_t q = o % Q, p = o / Q % P, plane = o / (P * Q);
      const T* in = x + plane * g.H * g.W;
      const auto b = g.bounds(p, q);
      T best = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
      std::int64_t where = b.y0 * g.W + b.x0;
      bool nan = false;
      for (std::int64_t iy = b.y0; iy < b.y1 && !nan; ++iy)
        for (std::int64_t ix = b.x0; ix < b.x1; ++ix) {
          const T v = in[iy * g.W + ix];
          if (v > best || v != v) {
            best = v;
            where = iy * g.W + ix;
            if (v != v) {
              nan = true;
              break;
            }
          }
        }
      y[o] = best;
      argmax[o] = static_cast<std::int32_t>(where);
    }
  }
};

// dx[i] = Σ dy over the outputs whose maximum was input i, outputs in ascending order.
template <class T>
struct max_pool_backward_body {
  pool_geometry g;
  std::int64_t planes;
  const T* dy;
  const std::int32_t* argmax;
  T* dx;
  STRATA_HD void operator()(const grid_index& t) const {
    const std::int64_t P = g.P(), Q = g.Q(), HW = g.H * g.W, total = planes * HW;
    for (std::int64_t i = cuda_grid::global_x(t); i < total; i += cuda_grid::threads_x(t)) {
      const std::int64_t w = i % g.W, h = i / g.W % g.H, plane = i / HW, at = h * g.W + w;
      const covering rows = covering::of(h, g.window, g.stride, g.pad, P), cols = covering::of(w, g.window, g.stride, g.pad, Q);
      compute_t<T> sum = 0;
      for (std::int64_t p = rows.lo; p < rows.hi; ++p)
        for (std::int64_t q = cols.lo; q < cols.hi; ++q) {
          const std::int64_t o = (plane * P + p) * Q + q;
          if (argmax[o] == at) sum += precision_traits<T>::to_compute(dy[o]);
        }
      dx[i] = precision_traits<T>::from_compute(sum);
    }
  }
};

// y = the mean of each window, padding counted as zeros.
template <class T>
struct avg_pool_forward_body {
  pool_geometry g;
  std::int64_t planes;
  const T* x;
  T* y;
  STRATA_HD void operator()(const grid_index& t) const {
    const std::int64_t P = g.P(), Q = g.Q(), total = planes * P * Q;
    using C = compute_t<T>;
    const C scale = C(1) / C(g.window * g.window);
    for (std::int64_t o = cuda_grid::global_x(t); o < total; o += cuda_grid::threads_x(t)) {
      const std::int64_t q = o % Q, p = o / Q % P, plane = o / (P * Q);
      const T* in = x + plane * g.H * g.W;
      const auto b = g.bounds(p, q);
      C acc = 0;
      for (std::int64_t iy = b.y0; iy < b.y1; ++iy)
        for (std::int64_t ix = b.x0; ix < b.x1; ++ix) acc += precision_traits<T>::to_compute(in[iy * g.W + ix]);
      y[o] = precision_traits<T>::from_compute(acc * scale);
    }
  }
};

// dx[i] = scale · Σ dy over the windows covering input i (one multiply, so no fused multiply-add
// makes the result depend on the compiler; the CPU scales each term: equal to rounding).
template <class T>
struct avg_pool_backward_body {
  pool_geometry g;
  std::int64_t planes;
  const T* dy;
  T* dx;
  STRATA_HD void operator()(const grid_index& t) const {
    const std::int64_t P = g.P(), Q = g.Q(), HW = g.H * g.W, total = planes * HW;
    using C = compute_t<T>;
    const C scale = C(1) / C(g.window * g.window);
    for (std::int64_t i = cuda_grid::global_x(t); i < total; i += cuda_grid::threads_x(t)) {
      const std::int64_t w = i % g.W, h = i / g.W % g.H, plane = i / HW;
      const covering rows = covering::of(h, g.window, g.stride, g.pad, P), cols = covering::of(w, g.window, g.stride, g.pad, Q);
      C sum = 0;
      for (std::int64_t p = rows.lo; p < rows.hi; ++p)
        for (std::int64_t q = cols.lo; q < cols.hi; ++q) sum += precision_traits<T>::to_compute(dy[(plane * P + p) * Q + q]);
      dx[i] = precision_traits<T>::from_compute(sum * scale);
    }
  }
};

}  // namespace strata::kernels::cuda_body
