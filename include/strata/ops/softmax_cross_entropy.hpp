// strata/ops/softmax_cross_entropy.hpp — the classification loss's rows on a device other than
// the CPU (whose loss runs in the layer itself): per-row losses, arg-max hits and the gradient
// (softmax − one-hot)/n from the device's op::softmax_cross_entropy kernel, summed on the host.
// A missing (device, precision) is a named static_assert.
#pragma once

#include <cstdint>

#include "strata/kernels/op_kernel.hpp"

namespace strata::ops {

using kernels::softmax_cross_entropy_sums;

// logits [n, k], labels [n], gradient [n, k] or null, all on device D.
template <class D, class T>
softmax_cross_entropy_sums softmax_cross_entropy(D, std::int64_t n, std::int64_t k, const T* logits,
                                                 const std::int32_t* labels, T* gradient) {
  kernels::require_op_kernel<kernels::op::softmax_cross_entropy, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::softmax_cross_entropy, D, T>)
    return kernels::op_kernel<kernels::op::softmax_cross_entropy, D, T>::evaluate(n, k, logits, labels, gradient);
  else
    return {};
}

}  // namespace strata::ops
