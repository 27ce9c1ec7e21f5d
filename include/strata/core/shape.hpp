// strata/core/shape.hpp — Shape<Rank>: the extents of a tensor as std::int64_t, with element
// counts, row-major strides and a printable form used in every shape error.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>

#include "strata/config.hpp"

namespace strata {

template <std::size_t Rank>
struct Shape {
  std::array<std::int64_t, Rank> extents{};

  static constexpr std::size_t rank = Rank;

  constexpr Shape() = default;

  template <std::integral... I>
    requires(sizeof...(I) == Rank && Rank > 0)
  constexpr explicit(Rank == 1) Shape(I... e) noexcept : extents{static_cast<std::int64_t>(e)...} {}

  constexpr explicit Shape(const std::array<std::int64_t, Rank>& e) noexcept : extents(e) {}

  STRATA_HD constexpr std::int64_t operator[](std::size_t axis) const noexcept { return extents[axis]; }
  STRATA_HD constexpr std::int64_t& operator[](std::size_t axis) noexcept { return extents[axis]; }

  // Number of elements (1 for a rank-0 shape).
  STRATA_HD constexpr std::int64_t elements() const noexcept {
    std::int64_t n = 1;
    for (std::size_t i = 0; i < Rank; ++i) n *= extents[i];
    return n;
  }

  // Product of the extents from `axis` to the end: the row-major stride of axis-1.
  STRATA_HD constexpr std::int64_t elements_from(std::size_t axis) const noexcept {
    std::int64_t n = 1;
    for (std::size_t i = axis; i < Rank; ++i) n *= extents[i];
    return n;
  }

  // Row-major strides in elements.
  constexpr std::array<std::int64_t, Rank> strides() const noexcept {
    std::array<std::int64_t, Rank> s{};
    std::int64_t n = 1;
    for (std::size_t i = Rank; i-- > 0;) {
      s[i] = n;
      n *= extents[i];
    }
    return s;
  }

  friend constexpr bool operator==(const Shape&, const Shape&) = default;

  // "[32, 3, 224, 224]"
  std::string to_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < Rank; ++i) {
      if (i) s += ", ";
      s += std::to_string(extents[i]);
    }
    return s + "]";
  }
};

template <std::integral... I>
Shape(I...) -> Shape<sizeof...(I)>;

template <std::size_t Rank>
std::string to_string(const Shape<Rank>& s) {
  return s.to_string();
}

}  // namespace strata
