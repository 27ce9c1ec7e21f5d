// strata/ops/inference.hpp — the operations of the inference path (net/inference.hpp) as it
// calls them: a 1×1 convolution and a dense layer on weights packed once with bias and clamp in
// their epilogue, and the epilogue on its own (bias + clamp in one pass, a residual sum), on any
// device whose kernels define op::pointwise_conv2d, op::dense_forward and op::epilogue (the CPU's:
// kernels/cpu/pointwise_conv.hpp, kernels/cpu/dense_forward.hpp and kernels/cpu/epilogue.hpp); a
// missing (device, precision) is a named static_assert.
#pragma once

#include <cstdint>

#include "strata/core/error.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/dense_forward.hpp"
#include "strata/kernels/cpu/epilogue.hpp"
#include "strata/kernels/cpu/pointwise_conv.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::ops {

using kernels::conv_geometry;

// Elements of K×C weights ([K, C] row-major) packed for pointwise_conv2d_forward.
template <class T, class D>
std::int64_t pointwise_packed_size(D, std::int64_t K, std::int64_t C) {
  kernels::require_op_kernel<kernels::op::pointwise_conv2d, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::pointwise_conv2d, D, T>)
    return kernels::op_kernel<kernels::op::pointwise_conv2d, D, T>::packed_size(K, C);
  else
    return 0;
}

template <class D, class T>
void pack_pointwise_weights(D, std::int64_t K, std::int64_t C, const T* w, T* packed) {
  kernels::require_op_kernel<kernels::op::pointwise_conv2d, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::pointwise_conv2d, D, T>)
    kernels::op_kernel<kernels::op::pointwise_conv2d, D, T>::pack(K, C, w, packed);
}

// y = clamp(W ⋆ x + b, lo, hi) for a 1×1 convolution (no padding, one group, any stride) of n
// images, W packed by pack_pointwise_weights; b may be null, ±∞ bounds clamp nothing.
template <class D, class T>
void pointwise_conv2d_forward(D, const conv_geometry& g, std::int64_t n, const T* x, const T* packed_w, const T* b, T* y, T lo,
                              T hi) {
  kernels::require_op_kernel<kernels::op::pointwise_conv2d, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::pointwise_conv2d, D, T>) {
    if (g.R != 1 || g.S != 1 || g.pad_y != 0 || g.pad_x != 0 || g.groups != 1)
      throw error("strata: pointwise_conv2d_forward needs a 1×1 convolution without padding or groups");
    kernels::op_kernel<kernels::op::pointwise_conv2d, D, T>::forward(g, n, x, packed_w, b, y, lo, hi);
  }
}

// Elements of K×C dense weights ([K, C] row-major) packed for dense_forward.
template <class T, class D>
std::int64_t dense_packed_size(D, std::int64_t K, std::int64_t C) {
  kernels::require_op_kernel<kernels::op::dense_forward, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::dense_forward, D, T>)
    return kernels::op_kernel<kernels::op::dense_forward, D, T>::packed_size(K, C);
  else
    return 0;
}

template <class D, class T>
void pack_dense_weights(D, std::int64_t K, std::int64_t C, const T* w, T* packed) {
  kernels::require_op_kernel<kernels::op::dense_forward, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::dense_forward, D, T>)
    kernels::op_kernel<kernels::op::dense_forward, D, T>::pack(K, C, w, packed);
}

// y = clamp(x·Wᵀ + b, lo, hi) for a dense layer on N rows (x: [N, C], y: [N, K]), W packed by
// pack_dense_weights; b may be null, ±∞ bounds clamp nothing.
template <class D, class T>
void dense_forward(D, std::int64_t N, std::int64_t C, std::int64_t K, const T* x, const T* packed_w, const T* b, T* y, T lo,
                   T hi) {
  kernels::require_op_kernel<kernels::op::dense_forward, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::dense_forward, D, T>)
    kernels::op_kernel<kernels::op::dense_forward, D, T>::forward(N, C, K, x, packed_w, b, y, lo, hi);
}

// y = clamp(y + bias[channel], lo, hi) for n samples of `channels` planes of `spatial` values.
template <class D, class T>
void bias_clamp(D, T* y, std::int64_t n, std::int64_t channels, std::int64_t spatial, const T* bias, T lo, T hi) {
  kernels::require_op_kernel<kernels::op::epilogue, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::epilogue, D, T>)
    kernels::op_kernel<kernels::op::epilogue, D, T>::bias_clamp(y, n, channels, spatial, bias, lo, hi);
}

// y += x over count values (a residual's sum).
template <class D, class T>
void add_into(D, T* y, const T* x, std::int64_t count) {
  kernels::require_op_kernel<kernels::op::epilogue, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::epilogue, D, T>) kernels::op_kernel<kernels::op::epilogue, D, T>::add(y, x, count);
}

}  // namespace strata::ops
