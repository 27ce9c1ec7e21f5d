// strata/ops/pooling.hpp — max and average pooling as layers call them: one function per pass,
// on any device whose kernels define them (kernels/<device>/pooling); a missing (op, device,
// precision) is a named static_assert.
#pragma once

#include <cstdint>

#include "strata/kernels/cpu/dynamic_fixed_pooling.hpp"
#include "strata/kernels/cpu/fixed_pooling.hpp"
#include "strata/kernels/cpu/pooling.hpp"
#include "strata/kernels/cpu/half_pooling.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/kernels/pool_geometry.hpp"

namespace strata::ops {

using kernels::pool_geometry;

// y = max over each window; argmax (on the same device) remembers where each maximum was.
template <class D, class T>
void max_pool_forward(D, const pool_geometry& g, std::int64_t n, const T* x, T* y, std::int32_t* argmax) {
  kernels::require_op_kernel<kernels::op::max_pool, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::max_pool, D, T>)
    kernels::op_kernel<kernels::op::max_pool, D, T>::forward(g, n, x, y, argmax);
}
template <class D, class T>
void max_pool_backward(D, const pool_geometry& g, std::int64_t n, const T* dy, const std::int32_t* argmax, T* dx) {
  kernels::require_op_kernel<kernels::op::max_pool, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::max_pool, D, T>)
    kernels::op_kernel<kernels::op::max_pool, D, T>::backward(g, n, dy, argmax, dx);
}

// y = the mean of each window, padding counted as zeros.
template <class D, class T>
void avg_pool_forward(D, const pool_geometry& g, std::int64_t n, const T* x, T* y) {
  kernels::require_op_kernel<kernels::op::avg_pool, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::avg_pool, D, T>)
    kernels::op_kernel<kernels::op::avg_pool, D, T>::forward(g, n, x, y);
}
template <class D, class T>
void avg_pool_backward(D, const pool_geometry& g, std::int64_t n, const T* dy, T* dx) {
  kernels::require_op_kernel<kernels::op::avg_pool, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::avg_pool, D, T>)
    kernels::op_kernel<kernels::op::avg_pool, D, T>::backward(g, n, dy, dx);
}

}  // namespace strata::ops
