// strata/kernels/cpu/fixed_dropout.hpp — the dropout mask for fixed-point batches on the CPU: the
// float kernel's Philox draws (the same mask for the same seed), with the keep scale 1/(1 − p)
// rounded to nearest.
#pragma once

#include <cstdint>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/cpu/dropout.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/numeric/fixed.hpp"

namespace strata::kernels {

// The float kernel's mask (same Philox draws), with the keep scale 1/(1 − p) rounded to nearest.
template <int B, int F, rounding R>
struct op_kernel<op::dropout_mask, strata::cpu, fixed<B, F, R>> {
  using T = fixed<B, F, R>;
  static void fill(std::int64_t count, float p, std::uint64_t seed, T* mask) {
    cpu::fill_dropout_mask(count, p, seed, T(1.0 / (1.0 - double(p))), mask);
  }
};

}  // namespace strata::kernels
