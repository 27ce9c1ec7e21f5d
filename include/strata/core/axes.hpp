// strata/core/axes.hpp — compile-time axis lists, `axes<0, 2, 3>`, naming the axes a reduction
// runs over or the output axes a broadcast operand maps to.
#pragma once

#include <array>
#include <cstddef>

namespace strata {

template <std::size_t... A>
struct axis_list {
  static constexpr std::size_t count = sizeof...(A);
  static constexpr std::array<std::size_t, sizeof...(A)> values{A...};

  static constexpr bool contains(std::size_t axis) { return ((A == axis) || ...); }

  // Strictly increasing and below `rank`: the only form strata accepts, so there is one
  // spelling of each set and no duplicates.
  static constexpr bool valid_for(std::size_t rank) {
    std::size_t previous = 0;
    bool first = true;
    for (std::size_t a : values) {
      if (a >= rank || (!first && a <= previous)) return false;
      previous = a;
      first = false;
    }
    return true;
  }
};

template <std::size_t... A>
inline constexpr axis_list<A...> axes{};

}  // namespace strata
