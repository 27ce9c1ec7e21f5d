// strata/core/broadcast.hpp — broadcast(x, axes<1>, shape): a lower-rank operand repeated along
// the other axes of `shape` (a bias over the channels of an NCHW batch), fused into the loop
// of whatever expression uses it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "strata/core/axes.hpp"
#include "strata/core/elementwise.hpp"

namespace strata {

template <class A, std::size_t Rank, std::size_t... Kept>
struct Broadcast : expression_node {
  using kept = axis_list<Kept...>;
  using element_type = typename A::element_type;
  using value_type = typename A::value_type;
  using device_type = typename A::device_type;
  static constexpr std::size_t rank = Rank;
  static constexpr bool is_complex = false;

  // The trailing output axes that are all kept or all repeated can run as one contiguous
  // stretch of the loop: within it the operand's index either advances by one or stays put.
  static constexpr std::size_t collapse_depth = [] {
    const bool last_kept = kept::contains(Rank - 1);
    std::size_t k = 0;
    while (k < Rank && kept::contains(Rank - 1 - k) == last_kept) ++k;
    return k;
  }();
  static constexpr bool inner_kept = kept::contains(Rank - 1);

  A operand;
  Shape<Rank> extents;

  Broadcast(A a, const Shape<Rank>& to) : operand(std::move(a)), extents(to) {
    const auto& from = operand.shape();
    std::size_t i = 0;
    for (std::size_t axis : kept::values) {
      if (from[i] != to[axis])
        throw shape_error("broadcast: operand " + from.to_string() + " does not fit shape " + to.to_string() +
                          ": its axis " + std::to_string(i) + " has extent " + std::to_string(from[i]) +
                          ", output axis " + std::to_string(axis) + " has " + std::to_string(to[axis]));
      ++i;
    }
  }

  const Shape<Rank>& shape() const noexcept { return extents; }

  template <class EA>
  struct evaluator_of {
    EA a;                                     // the operand, flat-indexed: a(0, i)
    int outer_axes;                           // output axes before the collapsed run
    std::array<std::int64_t, Rank> extent;    // output extents of those axes
    std::array<std::int64_t, Rank> stride;    // operand stride per output axis (0 if repeated)

    STRATA_HD STRATA_INLINE value_type operator()(std::int64_t r, std::int64_t c) const {
      // Per-row work: the compiler hoists it out of the loop over c. Rows are below the product
      // of the outer extents, so what is left of r at axis 0 is its index there: no division
      // (none at all for a rank-2 broadcast; one divide instead of two for an NCHW bias).
      std::int64_t base = 0;
      for (int axis = outer_axes - 1; axis > 0; --axis) {
        base += (r % extent[axis]) * stride[axis];
        r /= extent[axis];
      }
      if (outer_axes > 0) base += r * stride[0];
      return a(0, inner_kept ? base + c : base);
    }
  };

  auto evaluator(std::size_t collapsed) const {
    using EA = decltype(operand.evaluator(A::rank));
    evaluator_of<EA> e{operand.evaluator(A::rank), static_cast<int>(Rank - collapsed), {}, {}};
    // Operand strides (row-major over its own axes, which are the kept output axes in order).
    std::array<std::int64_t, Rank> axis_stride{};
    std::int64_t s = 1;
    for (std::size_t i = kept::count; i-- > 0;) {
      axis_stride[kept::values[i]] = s;
      s *= extents[kept::values[i]];
    }
    for (std::size_t axis = 0; axis < Rank; ++axis) {
      e.extent[axis] = extents[axis];
      e.stride[axis] = kept::contains(axis) ? axis_stride[axis] : 0;
    }
    return e;
  }
};

// x's axis i becomes output axis Kept[i]; every other output axis repeats it.
template <class X, std::size_t... Kept, std::size_t Rank>
  requires Expression<X>
auto broadcast(X&& x, axis_list<Kept...>, const Shape<Rank>& shape) {
  using A = node_t<X>;
  static_assert(!A::is_complex,
                "strata: a matrix product or an axis reduction cannot be broadcast; assign it to a tensor first");
  static_assert(sizeof...(Kept) == A::rank,
                "strata::broadcast(x, axes<...>, shape): name one output axis for each axis of x");
  static_assert(axis_list<Kept...>::valid_for(Rank),
                "strata::broadcast: the axes must be strictly increasing and below the output rank");
  static_assert(A::collapse_depth == A::rank,
                "strata::broadcast: the operand must not itself contain a broadcast; broadcast once to the "
                "final shape");
  return Broadcast<A, Rank, Kept...>(as_node(std::forward<X>(x)), shape);
}

}  // namespace strata
