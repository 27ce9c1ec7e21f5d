// strata/numeric/elementary_functions.hpp — branch-free float exp, log, tanh and sigmoid
// (plus double overloads) that g++ vectorises inside STRATA_SIMD loops. std::expf and friends
// are never vectorised without -ffast-math (errno, libmvec only under __FAST_MATH__); these are.
//
// Each float function is straight-line arithmetic, integer bit manipulation and mask blends
// (detail::select): no data-dependent branches, loops, tables or libm calls. They are correct
// with FTZ/DAZ off (the default): subnormal inputs are handled and subnormal results are
// produced by gradual underflow, not flushed. Results may differ by an ulp between builds
// with and without FMA contraction; the measured bounds below hold for both. Range reduction
// is Cody–Waite; the polynomials use the published Cephes minimax coefficients (expf.c,
// logf.c, tanhf.c, S. L. Moshier).
#pragma once

#include <cmath>
#include <cstdint>

#include "strata/config.hpp"

namespace strata::elementary {

namespace detail {

inline constexpr float kInf = strata::bit_cast<float>(std::uint32_t{0x7f800000u});
inline constexpr float kNaN = strata::bit_cast<float>(std::uint32_t{0x7fc00000u});

// 2^k for k (two's complement in a uint32) in [-126, 127], built in the exponent field.
STRATA_HD STRATA_INLINE constexpr float pow2u(std::uint32_t k) noexcept {
  return strata::bit_cast<float>((k + 127u) << 23);
}

STRATA_HD STRATA_INLINE constexpr float abs(float x) noexcept {
  return strata::bit_cast<float>(strata::bit_cast<std::uint32_t>(x) & 0x7fffffffu);
}

// |mag| with the sign bit of `sign` (mag must have a clear sign bit).
STRATA_HD STRATA_INLINE constexpr float with_sign_of(float mag, float sign) noexcept {
  return strata::bit_cast<float>(strata::bit_cast<std::uint32_t>(mag) |
                                 (strata::bit_cast<std::uint32_t>(sign) & 0x80000000u));
}

// c ? a : b, written as a bit-mask blend. A plain `?:` is lowered to a branch; g++ then
// sinks the computation feeding only one arm into that branch, and (with the default
// -ftrapping-math) refuses to if-convert a branch holding FP arithmetic, so the loop around
// it stays scalar. The mask form keeps both operands computed unconditionally.
STRATA_HD STRATA_INLINE constexpr float select(bool c, float a, float b) noexcept {
  const std::uint32_t m = 0u - static_cast<std::uint32_t>(c);
  return strata::bit_cast<float>((strata::bit_cast<std::uint32_t>(a) & m) |
                                 (strata::bit_cast<std::uint32_t>(b) & ~m));
}

}  // namespace detail

// e^x. Measured max error over all 2^32 floats vs. the double result rounded to float:
// 1 ulp (x86-64 SSE2, and -march=x86-64-v3 with FMA contraction, alike), relative error
// <= 8.5e-8 for normal results; x in (-103.98, -87.34) give subnormal results (gradual
// underflow), also within 1 ulp.
// exp(x) = +Inf for x > 88.7228, 0 for x < -103.972, exp(+-Inf) = +Inf / 0, NaN -> NaN.
STRATA_HD STRATA_INLINE constexpr float exp(float x) noexcept {
  // No clamping of x up front: a clamp to a constant lets g++ thread a constant path through
  // the whole function, and the resulting trapping constant multiply (2^64 * 2^64) blocks
  // if-conversion, i.e. vectorisation. Out-of-range x compute garbage (in unsigned integer
  // arithmetic, so no UB) that the selects at the end replace. NaN propagates by itself.

  // n = round(x / ln2), by adding 1.5 * 2^23: the sum's low mantissa bits hold n.
  constexpr float kMagic = 12582912.0f;  // 0x1.8p23
  const float t = x * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;
  const std::uint32_t nu =
      strata::bit_cast<std::uint32_t>(t) - strata::bit_cast<std::uint32_t>(kMagic);

  // r = x - n ln2 in two steps (Cody–Waite): n * 0.693359375 is exact for |n| <= 2^15.
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;

  // e^r = 1 + r + r^2 P(r), |r| <= ln2/2.
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = 1.0f + (r + (r * r) * p);

  // Scale by 2^n in two steps (n1 = floor(n/2), n2 = n - n1), so that n = 128 overflows
  // correctly and n in [-150, -127] rounds once into the subnormals instead of flushing.
  // Valid for n in [-252, 254], i.e. well beyond the thresholds selected on below.
  const std::uint32_t n1 = static_cast<std::uint32_t>(static_cast<std::int32_t>(nu) >> 1);
  const std::uint32_t n2 = nu - n1;
  float y = (er * detail::pow2u(n1)) * detail::pow2u(n2);

  // exp overflows from 88.7228 on and rounds to 0 below -103.973; the scaling above already
  // gives Inf / 0 up to these cut-offs.
  y = detail::select(x > 88.75f, detail::kInf, y);
  y = detail::select(x < -104.0f, 0.0f, y);
  return y;
}

// Natural logarithm. Measured max error over all 2^32 floats vs. the double result rounded to
// float: 1 ulp (SSE2 and x86-64-v3 alike), subnormal inputs included; relative error
// <= 8.2e-8.
// log(+-0) = -Inf, log(x < 0) = NaN, log(+Inf) = +Inf, NaN -> NaN.
STRATA_HD STRATA_INLINE constexpr float log(float x) noexcept {
  // Subnormal inputs: scale into the normal range and correct the exponent.
  const bool sub = x < 1.17549435e-38f;  // FLT_MIN
  const float xs = x * detail::select(sub, 8388608.0f, 1.0f);  // * 2^23
  const float eadj = detail::select(sub, -23.0f, 0.0f);

  // x = 2^k * m with m in [sqrt(1/2), sqrt(2)): offsetting the bits by those of sqrt(1/2)
  // makes the exponent field carry exactly when m crosses sqrt(2).
  constexpr std::uint32_t kSqrtHalf = 0x3f3504f3u;
  const std::uint32_t ix = strata::bit_cast<std::uint32_t>(xs) - kSqrtHalf;
  const std::int32_t k = static_cast<std::int32_t>(ix) >> 23;
  const float m = strata::bit_cast<float>((ix & 0x007fffffu) + kSqrtHalf);
  const float e = static_cast<float>(k) + eadj;

  // log(1 + f) = f - f^2/2 + f^3 P(f), f = m - 1 in [-0.293, 0.415) (exact, Sterbenz).
  const float f = m - 1.0f;
  const float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  // + e ln2, with ln2 split so that e * 0.693359375 is exact.
  const float tail = (f * z) * p + e * -2.12194440e-4f - 0.5f * z;
  float y = (f + tail) + e * 0.693359375f;

  y = detail::select(x == detail::kInf, x, y);
  y = detail::select(x == 0.0f, -detail::kInf, y);
  y = detail::select(x < 0.0f, detail::kNaN, y);
  return detail::select(x != x, x, y);
}

// Hyperbolic tangent. Odd polynomial for |x| < 0.625 (keeps relative accuracy near 0, and
// tanh(x) = x for tiny and subnormal x), 1 - 2/(e^{2|x|} + 1) above; both are computed and
// one is selected. Measured max error over all 2^32 floats vs. the double result rounded to
// float: 1 ulp (SSE2 and x86-64-v3 alike); relative error <= 1.5e-7.
// tanh(+-0) = +-0, tanh(+-Inf) = +-1 (saturates from |x| ~ 9.01 on), NaN -> NaN.
STRATA_HD STRATA_INLINE constexpr float tanh(float x) noexcept {
  const float ax = detail::abs(x);

  const float z = ax * ax;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = ax + (ax * z) * p;

  const float big = 1.0f - 2.0f / (elementary::exp(ax + ax) + 1.0f);

  const float y = detail::select(ax < 0.625f, small, big);
  return detail::with_sign_of(y, x);  // a NaN goes through `big` and stays NaN
}

// Logistic sigmoid 1 / (1 + e^-x). With t = e^{-|x|}: 1/(1+t) for x >= 0 and t/(1+t) for
// x < 0, so large negative x keep full relative accuracy (no 1 - tiny cancellation) and
// underflow gradually. Measured max error over all 2^32 floats vs. 1/(1+exp(-x)) in double
// rounded to float: 2 ulp (SSE2 and x86-64-v3 alike); relative error <= 1.8e-7 wherever the
// result is a normal float.
// sigmoid(+Inf) = 1, sigmoid(-Inf) = 0, sigmoid(+-0) = 0.5, NaN -> NaN.
STRATA_HD STRATA_INLINE constexpr float sigmoid(float x) noexcept {
  const float t = elementary::exp(-detail::abs(x));
  const float num = detail::select(x < 0.0f, t, 1.0f);
  return num / (1.0f + t);
}

// Double overloads: double is strata's reference precision, so these forward to the C++
// library (correctly rounded or nearly so) and are NOT vectorised by g++ without -ffast-math.
STRATA_HD STRATA_INLINE double exp(double x) noexcept { return std::exp(x); }
STRATA_HD STRATA_INLINE double log(double x) noexcept { return std::log(x); }
STRATA_HD STRATA_INLINE double tanh(double x) noexcept { return std::tanh(x); }

// Stable double sigmoid, same construction as the float one.
STRATA_HD STRATA_INLINE double sigmoid(double x) noexcept {
  const double t = std::exp(-std::fabs(x));
  const double num = x < 0.0 ? t : 1.0;
  return num / (1.0 + t);
}

}  // namespace strata::elementary
