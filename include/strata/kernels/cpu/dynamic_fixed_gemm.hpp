// strata/kernels/cpu/dynamic_fixed_gemm.hpp — matrix products of dynamic fixed-point tensors on
// the CPU, and the rule every integer kernel's result follows: the int16 GEMM multiplies the
// mantissas exactly (fraction bits of the operands add up), and the result is rounded to nearest
// into an exponent chosen from the overflow rate — lowered at once when the write overflows more
// than max_overflow_rate (the product is recomputed), raised next time by the headroom it left.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "strata/core/dynamic_scale.hpp"
#include "strata/core/matmul.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/fixed_gemm.hpp"  // raw(): the int16 values behind a 16-bit element type
#include "strata/kernels/cpu/int16_gemm.hpp"
#include "strata/numeric/dynamic_fixed.hpp"
#include "strata/numeric/fixed.hpp"

namespace strata::kernels::cpu {

// A right shift by `shift` fraction bits, rounded to nearest, saturated at ±(2^(Bits−1) − 1).
template <class T>
requantize dynamic_requantize(int shift) {
  requantize q;
  q.shift = shift;
  q.lo = static_cast<std::int32_t>(T::raw_min);
  q.hi = static_cast<std::int32_t>(T::raw_max);
  return q;
}

namespace dynamic_detail {
// Saturated values and bit lengths of n mantissas, in one pass.
template <class T>
dynamic_scaling::exponent_histogram histogram(const T* out, std::int64_t n, std::int64_t& saturated) {
  const std::int16_t* r = raw(out);
  std::mutex merge;
  dynamic_scaling::exponent_histogram total;
  saturated = 0;
  parallel_ranges(n, [&](std::int64_t b, std::int64_t e) {
    const auto h = dynamic_scaling::histogram_of_integers(r + b, e - b);
    const std::int64_t s = std::count_if(r + b, r + e, [](std::int16_t v) { return v == T::raw_max || v == T::raw_min; });
    const std::lock_guard lock(merge);
    total.add(h);
    saturated += s;
  });
  return total;
}
}  // namespace dynamic_detail

// out[0, n) = an integer kernel's result, whose exact sums have `exact_bits` fraction bits:
// run(shift) must write the mantissas rounded by a right shift of `shift` (0 … 40). When out
// starts its tensor this chooses the tensor's exponent as described above; elsewhere it writes at
// the tensor's exponent.
template <class T, class Run>
void write_rounded(T* out, std::int64_t n, int exact_bits, Run&& run) {
  if (n <= 0) return;
  const auto [s, whole] = scale_for_write(out);
  const int lo = exact_bits - 40, hi = exact_bits;  // the kernels shift right by 0 … 40
  if (!whole) {
    const int f = s.fraction_bits, within = dynamic_scaling::clamp_bits(f, lo, hi);
    run(exact_bits - within);
    if (within != f) rescale_mantissas(out, n, f - within);
    return;
  }
  const std::int64_t allowed = dynamic_scaling::allowed_overflows(n);
  int f = dynamic_scaling::clamp_bits(s.planned, lo, hi);
  std::int64_t saturated = 0;
  dynamic_scaling::exponent_histogram h;
  for (;;) {
    run(exact_bits - f);
    h = dynamic_detail::histogram(out, n, saturated);
    if (saturated <= allowed || f == lo) break;
    f = std::max(lo, f - (2 * saturated > n ? 4 : 1));  // mostly saturated: the sums are far larger
  }
  s.fraction_bits = f;
  s.written = true;
  ++s.full_writes;
  s.overflowed += saturated;
  // Headroom with a margin (a quarter of the allowed overflows), so the next batch rarely recomputes.
  s.planned = f + std::max(0, dynamic_scaling::integer_headroom(h, T::bits, allowed / 4));
}

// out[0, n) = exact integer sums with `exact_bits` fraction bits, rounded to nearest. When out
// starts its tensor the exponent comes from the sums themselves (the most fraction bits that
// overflow at most max_overflow_rate of them); elsewhere it is the tensor's.
template <class T>
void store_sums(T* out, const std::int64_t* sums, std::int64_t n, int exact_bits) {
  if (n <= 0) return;
  const auto [s, whole] = scale_for_write(out);
  if (whole) {
    const auto h = dynamic_scaling::histogram_of_integers(sums, n);
    const std::int64_t allowed = dynamic_scaling::allowed_overflows(n);
    const int f = dynamic_scaling::clamp_bits(exact_bits + dynamic_scaling::integer_headroom(h, T::bits, allowed));
    s.fraction_bits = s.planned = f;
    s.written = true;
    ++s.full_writes;
  }
  const int shift = exact_bits - s.fraction_bits;
  std::int64_t saturated = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t v = shift > 62 ? 0 : shift < -40 ? (sums[i] > 0 ? T::raw_max : sums[i] < 0 ? T::raw_min : 0)
                                                          : strata::detail::round_shift_nearest(sums[i], shift);
    out[i] = T::from_raw(v);
    saturated += v > T::raw_max || v < T::raw_min;
  }
  s.overflowed += saturated;
}

}  // namespace strata::kernels::cpu

namespace strata {

// dst (op)= lhs · rhs for dynamic_fixed: one int16 GEMM of the mantissas, rounded once into the
// exponent write_rounded chooses. Added or subtracted products are rounded into their own
// tensor first, then summed at the destination's store.
template <int B, int U, class A, class Bm>
void evaluate_complex(cpu, const TensorView<dynamic_fixed<B, U>, 2, cpu>& dst, const MatMul<A, Bm>& node, assign_mode mode) {
  using T = dynamic_fixed<B, U>;
  detail::evaluate_matmul(dst, node, mode, [&](const auto& a, const auto& b, std::int64_t m, std::int64_t n, std::int64_t k,
                                               int alpha, int beta, T* c) {
    using kernels::cpu::raw;
    const int exact = (m * k > 0 ? scale_of(a.data).fraction_bits : 0) + (k * n > 0 ? scale_of(b.data).fraction_bits : 0);
    auto product_into = [&](T* out) {
      kernels::cpu::write_rounded(out, m * n, exact, [&](int shift) {
        kernels::cpu::int16_gemm(a.transposed, b.transposed, m, n, k, raw(a.data), a.ld, raw(b.data), b.ld, raw(out), n,
                                 kernels::cpu::dynamic_requantize<T>(shift));
      });
    };
    if (beta == 0 && alpha == 1) {
      product_into(c);
      return;
    }
    Tensor<T, 2> product = Tensor<T, 2>::uninitialized(Shape{m, n});
    product_into(product.data());
    const TensorView<T, 2> out(c, Shape{m, n});
    if (alpha < 0) assign<assign_mode::subtract>(out, product.ref());
    else assign<assign_mode::add>(out, product.ref());
  });
}

}  // namespace strata
