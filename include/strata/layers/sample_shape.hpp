// strata/layers/sample_shape.hpp — the shape of one sample, known to the compiler:
// `sample_shape<64, 14, 14>` (C, H, W of an image) or `sample_shape<1024>` (a vector). Layers
// compute their output shapes, parameter counts and FLOPs from it at compile time. (A tensor's
// run-time extents are a `Shape<Rank>`: two concepts, two words — see docs/ARCHITECTURE.md.)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "strata/core/shape.hpp"

namespace strata {

template <std::int64_t... E>
struct sample_shape {
  static_assert(sizeof...(E) >= 1, "strata::sample_shape<...>: give at least one extent");
  static_assert(((E > 0) && ...), "strata::sample_shape<...>: every extent must be positive");

  static constexpr std::size_t rank = sizeof...(E);
  static constexpr std::array<std::int64_t, sizeof...(E)> extents{E...};
  static constexpr std::int64_t elements = (E * ... * 1);

  // The runtime shape of a batch of n samples: [n, E...].
  static Shape<rank + 1> batch(std::int64_t n) { return Shape<rank + 1>{std::array<std::int64_t, rank + 1>{n, E...}}; }

  static std::string to_string() {
    std::string s = "[";
    for (std::size_t i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(extents[i]);
    return s + "]";
  }
};

template <class S>
inline constexpr bool is_static_shape_v = false;
template <std::int64_t... E>
inline constexpr bool is_static_shape_v<sample_shape<E...>> = true;

template <class S>
concept StaticShape = is_static_shape_v<S>;

// An image: channels, height, width.
template <class S>
concept ImageShape = StaticShape<S> && S::rank == 3;

}  // namespace strata
