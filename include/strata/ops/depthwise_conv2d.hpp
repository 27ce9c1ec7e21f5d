// strata/ops/depthwise_conv2d.hpp — depthwise 2-D convolution (one filter per channel: geometry
// groups == C == K, weights [C, 1, R, S]) as layers call it: forward with an optional clamp,
// backward data, backward filter, on any device whose kernels define op::depthwise_conv2d (the
// CPU's: kernels/cpu/depthwise_conv.hpp); a missing (device, precision) is a named static_assert.
#pragma once

#include <cstdint>
#include <limits>

#include "strata/core/error.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/depthwise_conv.hpp"
#include "strata/kernels/cpu/half_depthwise_conv.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::ops {

using kernels::conv_geometry;

namespace detail {
inline void check_depthwise(const conv_geometry& g) {
  if (!g.is_depthwise() || g.P() < 1 || g.Q() < 1)
    throw error("strata: a depthwise convolution needs groups == C == K (one filter per channel) and an output of at least 1×1");
}
// "No clamp": ±∞ where the precision has them, else its whole range (fixed point).
template <class T>
constexpr T unclamped_low() {
  if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}
template <class T>
constexpr T unclamped_high() {
  if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}
}  // namespace detail

// y = clamp(x ⋆ w + b) per channel for a batch of n images (b may be null; clamp bounds ±∞: none).
template <class D, class T>
void depthwise_conv2d_forward(D, const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y,
                              T lo = detail::unclamped_low<T>(), T hi = detail::unclamped_high<T>()) {
  kernels::require_op_kernel<kernels::op::depthwise_conv2d, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::depthwise_conv2d, D, T>) {
    detail::check_depthwise(g);
    kernels::op_kernel<kernels::op::depthwise_conv2d, D, T>::forward(g, n, x, w, b, y, lo, hi);
  }
}

// dx = dL/dx for dy = dL/dy.
template <class D, class T>
void depthwise_conv2d_backward_data(D, const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
  kernels::require_op_kernel<kernels::op::depthwise_conv2d, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::depthwise_conv2d, D, T>) {
    detail::check_depthwise(g);
    kernels::op_kernel<kernels::op::depthwise_conv2d, D, T>::backward_data(g, n, w, dy, dx);
  }
}

// dw = dL/dw and db = dL/db (db may be null); both are set, not added to.
template <class D, class T>
void depthwise_conv2d_backward_filter(D, const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
  kernels::require_op_kernel<kernels::op::depthwise_conv2d, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::depthwise_conv2d, D, T>) {
    detail::check_depthwise(g);
    kernels::op_kernel<kernels::op::depthwise_conv2d, D, T>::backward_filter(g, n, x, dy, dw, db);
  }
}

}  // namespace strata::ops
