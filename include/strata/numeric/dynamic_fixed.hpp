// strata/numeric/dynamic_fixed.hpp — dynamic_fixed<Bits, UpdateBits>: dynamic fixed point
// (Courbariaux et al. 2014). Each element is an integer mantissa of Bits bits (sign included) in
// int16 storage; the scaling exponent is shared by a whole tensor and lives with the tensor
// (core/dynamic_scale.hpp), chosen from the overflow rate each time the tensor is written.
// UpdateBits is the width of the optimizer's copy of the parameters (the paper's 10 / 12 bits).
#pragma once

#include <compare>
#include <cstdint>

#include "strata/config.hpp"

namespace strata {

// Bits: mantissa width of values as they propagate (activations, gradients, the weights the
// layers read); UpdateBits: the width of the parameters the optimizer updates (≥ Bits). A value
// is raw · 2^-f, where f (the tensor's fraction bits) is not part of the element: an element
// alone has no value, so dynamic_fixed is not a Scalar and converts only through tensors.
template <int Bits, int UpdateBits = Bits>
struct dynamic_fixed {
  static_assert(Bits >= 2 && Bits <= 16, "strata::dynamic_fixed<Bits, …>: Bits (sign included) is 2 to 16");
  static_assert(UpdateBits >= Bits && UpdateBits <= 16,
                "strata::dynamic_fixed<Bits, UpdateBits>: UpdateBits is Bits to 16 (updates are at least as wide as propagation)");

  using raw_type = std::int16_t;
  static constexpr int bits = Bits;
  static constexpr int update_bits = UpdateBits;
  static constexpr std::int64_t raw_max = (std::int64_t{1} << (Bits - 1)) - 1;
  static constexpr std::int64_t raw_min = -raw_max;  // symmetric: negation never saturates

  dynamic_fixed() = default;  // uninitialised, like a float
  STRATA_HD static constexpr dynamic_fixed from_raw(std::int64_t r) noexcept {
    dynamic_fixed v;
    v.raw_ = saturate(r);
    return v;
  }
  STRATA_HD static constexpr dynamic_fixed zero() noexcept { return from_raw(0); }
  STRATA_HD constexpr raw_type raw() const noexcept { return raw_; }
  STRATA_HD static constexpr raw_type saturate(std::int64_t r) noexcept {
    return static_cast<raw_type>(r < raw_min ? raw_min : (r > raw_max ? raw_max : r));
  }
  // Comparisons of mantissas are comparisons of values within one tensor (one exponent).
  STRATA_HD friend constexpr bool operator==(dynamic_fixed a, dynamic_fixed b) noexcept { return a.raw_ == b.raw_; }
  STRATA_HD friend constexpr auto operator<=>(dynamic_fixed a, dynamic_fixed b) noexcept { return a.raw_ <=> b.raw_; }

 private:
  raw_type raw_;
};

template <class T>
inline constexpr bool is_dynamic_fixed_v = false;
template <int B, int U>
inline constexpr bool is_dynamic_fixed_v<dynamic_fixed<B, U>> = true;

}  // namespace strata
