// strata/ops/dropout.hpp — the dropout mask as layers ask for it, on any device whose kernels
// define op::dropout_mask (the same seed gives the same mask on every device and thread count).
#pragma once

#include <cstdint>

#include "strata/kernels/cpu/dropout.hpp"
#include "strata/kernels/cpu/half_dropout.hpp"
#include "strata/kernels/cpu/fixed_dropout.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::ops {

// mask[i] = 0 with probability p, else 1/(1 − p).
template <class D, class T>
void dropout_mask(D, std::int64_t count, float p, std::uint64_t seed, T* mask) {
  kernels::require_op_kernel<kernels::op::dropout_mask, D, T>();
  if constexpr (kernels::has_op_kernel<kernels::op::dropout_mask, D, T>)
    kernels::op_kernel<kernels::op::dropout_mask, D, T>::fill(count, p, seed, mask);
}

}  // namespace strata::ops
