// strata/kernels/cpu/fixed_gemm.hpp — matrix products of fixed-point tensors on the CPU: the raw
// int16 values multiply in the integer GEMM (kernels/cpu/int16_gemm.hpp), sums are exact, and
// each result is rounded once into the type with its rounding (stochastic bits keyed by the
// calling thread's rounding stream, core/rounding_stream.hpp) and saturated.
#pragma once

#include <cstdint>
#include <vector>

#include "strata/core/matmul.hpp"
#include "strata/core/rounding_stream.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/int16_gemm.hpp"
#include "strata/numeric/fixed.hpp"

namespace strata::kernels::cpu {

// How a product with `shift` extra fraction bits returns to fixed<B, F, R>: its rounding, a fresh
// key for stochastic bits, its range.
template <class T>
requantize fixed_requantize(int shift) {
  requantize q;
  q.shift = shift;
  q.stochastic = T::rounding_mode == rounding::stochastic;
  q.seed = q.stochastic ? next_rounding_key() : 0;
  q.lo = static_cast<std::int32_t>(T::raw_min);
  q.hi = static_cast<std::int32_t>(T::raw_max);
  return q;
}

template <class T>
const std::int16_t* raw(const T* p) noexcept {
  return reinterpret_cast<const std::int16_t*>(p);
}
template <class T>
std::int16_t* raw(T* p) noexcept {
  return reinterpret_cast<std::int16_t*>(p);
}

}  // namespace strata::kernels::cpu

namespace strata {

// dst (op)= lhs · rhs for fixed<B ≤ 16, F, R>: Frac + Frac fraction bits summed exactly, one
// rounding to Frac. Added or subtracted products are rounded first, then summed with saturation.
template <int B, int F, rounding R, class A, class Bm>
  requires(B <= 16)
void evaluate_complex(cpu, const TensorView<fixed<B, F, R>, 2, cpu>& dst, const MatMul<A, Bm>& node, assign_mode mode) {
  using T = fixed<B, F, R>;
  detail::evaluate_matmul(dst, node, mode, [&](const auto& a, const auto& b, std::int64_t m, std::int64_t n, std::int64_t k,
                                               int alpha, int beta, T* c) {
    const auto q = kernels::cpu::fixed_requantize<T>(F);
    using kernels::cpu::raw;
    if (beta == 0 && alpha == 1) {
      kernels::cpu::int16_gemm(a.transposed, b.transposed, m, n, k, raw(a.data), a.ld, raw(b.data), b.ld, raw(c), n, q);
      return;
    }
    std::vector<std::int16_t> product(static_cast<std::size_t>(m * n));
    kernels::cpu::int16_gemm(a.transposed, b.transposed, m, n, k, raw(a.data), a.ld, raw(b.data), b.ld, product.data(), n, q);
    std::int16_t* out = raw(c);
    for (std::int64_t i = 0; i < m * n; ++i)
      out[i] = T::saturate((beta ? std::int64_t(out[i]) : 0) + alpha * std::int64_t(product[std::size_t(i)]));
  });
}

}  // namespace strata
