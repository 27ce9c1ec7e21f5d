// strata/numeric/fixed.hpp — fixed<Bits, Frac, Rounding>: a two's-complement fixed-point number
// (raw integer · 2^-Frac in int16 storage for Bits ≤ 16, int32 up to 32), with saturating
// conversions, round-to-nearest or stochastic rounding (Gupta et al. 2015) of wider values into
// storage, and the shift-and-round rule the integer kernels apply to their exact accumulators.
#pragma once

#include <cmath>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <type_traits>

#include "strata/config.hpp"

namespace strata {

// How a value is rounded into a precision's storage.
enum class rounding {
  nearest_even,  // the IEEE default (float, half)
  nearest,       // to nearest, ties up: floor(v + 1/2) (fixed point: one add and a shift)
  stochastic     // up with probability equal to the distance from the lower neighbour
};

namespace detail {
// int16 storage up to 16 bits (what the integer kernels multiply), int32 above.
template <int Bits>
using fixed_storage_t = std::conditional_t<(Bits <= 16), std::int16_t, std::int32_t>;

// acc · 2^-shift rounded to an integer: nearest with ties up (floor(v + 1/2), one add and a shift,
// as fixed-point hardware rounds), or stochastically as floor((acc + r) / 2^shift) with r the
// caller's uniform bits in [0, 2^shift) — so it rounds up with probability equal to the dropped
// fraction, and the expected result is exactly acc · 2^-shift. shift ≤ 0 scales up exactly.
STRATA_HD constexpr std::int64_t round_shift_nearest(std::int64_t acc, int shift) noexcept {
  if (shift <= 0) return acc * (std::int64_t{1} << -shift);
  return (acc + (std::int64_t{1} << (shift - 1))) >> shift;  // arithmetic shift: floor
}
STRATA_HD constexpr std::int64_t round_shift_stochastic(std::int64_t acc, int shift, std::uint64_t r) noexcept {
  if (shift <= 0) return acc * (std::int64_t{1} << -shift);
  return (acc + static_cast<std::int64_t>(r & ((std::uint64_t{1} << shift) - 1))) >> shift;
}
}  // namespace detail

// Bits in total (sign included), Frac of them after the binary point: the value is raw · 2^-Frac,
// raw in [−2^(Bits−1), 2^(Bits−1) − 1]. Rounding says how wider results (products, updates) are
// rounded into storage: rounding::stochastic (the default, Gupta et al.) or rounding::nearest.
template <int Bits, int Frac, rounding Rounding = rounding::stochastic>
struct fixed {
  static_assert(Bits >= 2 && Bits <= 32, "strata::fixed<Bits, Frac>: Bits (sign included) is 2 to 32");
  static_assert(Frac >= 0 && Frac <= 30, "strata::fixed<Bits, Frac>: Frac (fraction bits) is 0 to 30");

  using raw_type = detail::fixed_storage_t<Bits>;
  static constexpr int bits = Bits;
  static constexpr int fraction_bits = Frac;
  static constexpr rounding rounding_mode = Rounding;
  static constexpr std::int64_t raw_max = (std::int64_t{1} << (Bits - 1)) - 1;
  static constexpr std::int64_t raw_min = -(std::int64_t{1} << (Bits - 1));
  static constexpr double scale = double(std::int64_t{1} << Frac);  // 2^Frac
  static constexpr double resolution = 1.0 / scale;                  // one unit in the last place

  fixed() = default;  // uninitialised, like a float
  // Round to nearest (ties up), saturating; NaN becomes 0 (fixed point has no NaN).
  STRATA_HD constexpr explicit fixed(double v) noexcept : raw_(from_double_nearest(v)) {}
  STRATA_HD constexpr explicit fixed(float v) noexcept : raw_(from_double_nearest(double(v))) {}
  template <class I>
    requires std::is_integral_v<I>
  STRATA_HD constexpr explicit fixed(I v) noexcept : raw_(saturate(saturating_shift_up(std::int64_t(v)))) {}

  STRATA_HD static constexpr fixed from_raw(std::int64_t r) noexcept {
    fixed f;
    f.raw_ = saturate(r);
    return f;
  }
  STRATA_HD constexpr raw_type raw() const noexcept { return raw_; }
  STRATA_HD constexpr double to_double() const noexcept { return double(raw_) * resolution; }
  // Exact for Bits ≤ 24 (a float has a 24-bit significand).
  STRATA_HD constexpr float to_float() const noexcept { return float(raw_) * float(resolution); }
  STRATA_HD constexpr explicit operator double() const noexcept { return to_double(); }
  STRATA_HD constexpr explicit operator float() const noexcept { return to_float(); }

  // The saturating clamp of a raw integer into range.
  STRATA_HD static constexpr raw_type saturate(std::int64_t r) noexcept {
    return static_cast<raw_type>(r < raw_min ? raw_min : (r > raw_max ? raw_max : r));
  }
  // v · 2^Frac to the nearest integer (ties up: floor(v · 2^Frac + 1/2)), saturating, NaN → 0.
  STRATA_HD static constexpr raw_type from_double_nearest(double v) noexcept { return from_double_stochastic(v, 0.5); }
  // v · 2^Frac rounded down or up with probabilities given by the distance to each (u uniform in
  // [0, 1): floor(v · 2^Frac + u)), saturating, NaN → 0.
  STRATA_HD static constexpr raw_type from_double_stochastic(double v, double u) noexcept {
    const double s = v * scale;
    if (!(s == s)) return 0;
    if (s >= double(raw_max)) return static_cast<raw_type>(raw_max);
    if (s <= double(raw_min)) return static_cast<raw_type>(raw_min);
    const double f = s + u;
    auto r = static_cast<std::int64_t>(f);
    if (double(r) > f) --r;
    return saturate(r);
  }

  // Exact: negation (saturating at the most negative value) and comparisons on the raw integers.
  STRATA_HD friend constexpr fixed operator-(fixed a) noexcept { return from_raw(-std::int64_t(a.raw_)); }
  STRATA_HD friend constexpr fixed operator+(fixed a) noexcept { return a; }
  // Saturating integer sums; products keep 2·Frac fraction bits exactly and round once to nearest.
  STRATA_HD friend constexpr fixed operator+(fixed a, fixed b) noexcept { return from_raw(std::int64_t(a.raw_) + b.raw_); }
  STRATA_HD friend constexpr fixed operator-(fixed a, fixed b) noexcept { return from_raw(std::int64_t(a.raw_) - b.raw_); }
  STRATA_HD friend constexpr fixed operator*(fixed a, fixed b) noexcept {
    return from_raw(detail::round_shift_nearest(std::int64_t(a.raw_) * b.raw_, Frac));
  }
  STRATA_HD constexpr fixed& operator+=(fixed o) noexcept { return *this = *this + o; }
  STRATA_HD constexpr fixed& operator-=(fixed o) noexcept { return *this = *this - o; }
  STRATA_HD constexpr fixed& operator*=(fixed o) noexcept { return *this = *this * o; }
  STRATA_HD friend constexpr bool operator==(fixed a, fixed b) noexcept { return a.raw_ == b.raw_; }
  STRATA_HD friend constexpr auto operator<=>(fixed a, fixed b) noexcept { return a.raw_ <=> b.raw_; }

 private:
  STRATA_HD static constexpr std::int64_t saturating_shift_up(std::int64_t v) noexcept {
    if (v > (raw_max >> Frac)) return raw_max;
    if (v < (raw_min >> Frac)) return raw_min;
    return v * (std::int64_t{1} << Frac);
  }
  raw_type raw_;
};

template <class T>
inline constexpr bool is_fixed_v = false;
template <int B, int F, rounding R>
inline constexpr bool is_fixed_v<fixed<B, F, R>> = true;

template <class CharT, class Traits, int B, int F, rounding R>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os, fixed<B, F, R> v) {
  return os << v.to_double();
}

}  // namespace strata

template <int B, int F, strata::rounding R>
class std::numeric_limits<strata::fixed<B, F, R>> {
  using T = strata::fixed<B, F, R>;

 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool is_exact = true;
  static constexpr bool has_infinity = false;
  static constexpr bool has_quiet_NaN = false;
  static constexpr bool has_signaling_NaN = false;
  static constexpr bool is_bounded = true;
  static constexpr bool is_modulo = false;
  static constexpr int digits = B - 1;
  static constexpr int radix = 2;
  static constexpr T min() noexcept { return T::from_raw(1); }  // the smallest positive value
  static constexpr T lowest() noexcept { return T::from_raw(T::raw_min); }
  static constexpr T max() noexcept { return T::from_raw(T::raw_max); }
  static constexpr T epsilon() noexcept { return T::from_raw(1); }
  static constexpr T round_error() noexcept { return T(0.5 * T::resolution); }
  static constexpr T denorm_min() noexcept { return T::from_raw(1); }
};
