// strata/kernels/cpu/dynamic_fixed_pooling.hpp — max pooling of dynamic fixed-point batches on the
// CPU: the fixed-point kernels on the mantissas (selection is exact), and the output takes the
// input's exponent (rescaled where it is a part of a tensor with its own).
#pragma once

#include <cstdint>

#include "strata/core/dynamic_scale.hpp"
#include "strata/kernels/cpu/dynamic_fixed_gemm.hpp"
#include "strata/kernels/cpu/fixed_pooling.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/numeric/dynamic_fixed.hpp"

namespace strata::kernels {

template <int B, int U>
struct op_kernel<op::max_pool, strata::cpu, dynamic_fixed<B, U>> {
  using T = dynamic_fixed<B, U>;
  static void forward(const pool_geometry& g, std::int64_t n, const T* x, T* y, std::int32_t* argmax) {
    cpu::fixed_detail::max_pool_forward(g, n, x, y, argmax);
    if (n > 0) adopt_fraction_bits(y, n * g.C * g.P() * g.Q(), scale_of(x).fraction_bits);
  }
  static void backward(const pool_geometry& g, std::int64_t n, const T* dy, const std::int32_t* argmax, T* dx) {
    cpu::fixed_detail::max_pool_backward(g, n, dy, argmax, dx);
    if (n > 0) adopt_fraction_bits(dx, n * g.C * g.H * g.W, scale_of(dy).fraction_bits);
  }
};

}  // namespace strata::kernels
