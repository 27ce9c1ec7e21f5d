// strata/kernels/cpu/half_activation.hpp — fp16 ReLU on the CPU: the op_kernel for op::relu at
// half, on the values' bit patterns. ReLU only compares with 0 and selects, so it needs no
// conversion: the results are bit for bit those of the fused expression (widen to float, select,
// round back), whose two conversions per value made it twice as slow as fp32's on half the bytes.
#pragma once

#include <cstdint>

#include "strata/core/device_tags.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels {

namespace cpu {

// out[i] = f(a[i], b[i]) on int16 lanes of fp16 bits (b = a when b is null), whole vectors then
// the first lanes of one; split across threads on whole cache lines of the output.
template <class F>
void for_fp16_bits(std::int64_t n, const half* a, const half* b, half* out, F f) {
  using V = simd::vec<std::int16_t>;
  constexpr std::int64_t L = simd::lanes_of<V>;
  const auto* pa = reinterpret_cast<const std::int16_t*>(a);
  const auto* pb = reinterpret_cast<const std::int16_t*>(b ? b : a);
  auto* po = reinterpret_cast<std::int16_t*>(out);
  parallel_ranges(n, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t i = begin;
    for (; i + L <= end; i += L) simd::store<V>(po + i, f(simd::load<V>(pa + i), simd::load<V>(pb + i)));
    if (i < end) {
      const int rest = static_cast<int>(end - i);
      simd::store_first<V>(po + i, f(simd::load_first<V>(pa + i, rest), simd::load_first<V>(pb + i, rest)), rest);
    }
  }, 32);
}

}  // namespace cpu

template <>
struct op_kernel<op::relu, strata::cpu, half> {
  // y = x < 0 ? 0 : x (relu_function::forward in float): a negative value other than −0 becomes
  // +0, −0 stays −0 (not below 0), a NaN stays a NaN (quieted, as the round trip through float does).
  static void forward(std::int64_t n, const half* x, half* y) {
    cpu::for_fp16_bits(n, x, nullptr, y, [](auto v, auto) {
      using V = decltype(v);
      const V below_zero = (v < std::int16_t(0)) & ((v & std::int16_t(0x7fff)) != std::int16_t(0));
      return cpu::simd::fp16_is_nan(v) ? V(v | std::int16_t(0x0200)) : below_zero ? cpu::simd::zero<V>() : v;
    });
  }
  // dx = y > 0 ? dy : 0 (relu_function::backward in float): y > 0 is a clear sign bit and bits
  // in (0, Inf]; dy passes as it would through float (a NaN quieted), else +0.
  static void backward(std::int64_t n, const half* y, const half* dy, half* dx) {
    cpu::for_fp16_bits(n, y, dy, dx, [](auto v, auto g) {
      using V = decltype(v);
      const V positive = (v > std::int16_t(0)) & (v <= std::int16_t(0x7c00));
      return positive ? cpu::simd::fp16_through_float(g) : cpu::simd::zero<V>();
    });
  }
};

}  // namespace strata::kernels
