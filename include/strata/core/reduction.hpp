// strata/core/reduction.hpp — sum, mean, max and min over all elements (a value) or over
// chosen axes (`sum(x, axes<0, 2, 3>)`, a complex node to assign to a tensor). The operand may
// be any element-wise expression; it is read once, never materialised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "strata/core/axes.hpp"
#include "strata/core/tensor.hpp"

namespace strata {

// How values combine. Acc is the accumulation type (precision_traits<T>::accumulate).
namespace reducer {
struct sum {
  static constexpr const char* name = "sum";
  template <class Acc>
  STRATA_HD static constexpr Acc identity() { return Acc(0); }
  template <class Acc>
  STRATA_HD STRATA_INLINE static Acc combine(Acc a, Acc b) { return a + b; }
  template <class Acc>
  STRATA_HD static Acc finalize(Acc a, std::int64_t) { return a; }
};
struct mean {
  static constexpr const char* name = "mean";
  template <class Acc>
  STRATA_HD static constexpr Acc identity() { return Acc(0); }
  template <class Acc>
  STRATA_HD STRATA_INLINE static Acc combine(Acc a, Acc b) { return a + b; }
  template <class Acc>
  STRATA_HD static Acc finalize(Acc a, std::int64_t count) { return a / static_cast<Acc>(count); }
};
// max/min propagate NaN, so a reduction never hides a bad value.
struct max {
  static constexpr const char* name = "max";
  template <class Acc>
  STRATA_HD static constexpr Acc identity() {
    if constexpr (std::numeric_limits<Acc>::has_infinity) return -std::numeric_limits<Acc>::infinity();
    else return std::numeric_limits<Acc>::lowest();
  }
  template <class Acc>
  STRATA_HD STRATA_INLINE static Acc combine(Acc a, Acc b) { return (a < b || b != b) ? b : a; }
  template <class Acc>
  STRATA_HD static Acc finalize(Acc a, std::int64_t) { return a; }
};
struct min {
  static constexpr const char* name = "min";
  template <class Acc>
  STRATA_HD static constexpr Acc identity() {
    if constexpr (std::numeric_limits<Acc>::has_infinity) return std::numeric_limits<Acc>::infinity();
    else return std::numeric_limits<Acc>::max();
  }
  template <class Acc>
  STRATA_HD STRATA_INLINE static Acc combine(Acc a, Acc b) { return (a > b || b != b) ? b : a; }
  template <class Acc>
  STRATA_HD static Acc finalize(Acc a, std::int64_t) { return a; }
};
}  // namespace reducer

// Reduction of operand A over axes Reduced...; the result keeps A's other axes in order.
template <class Reducer, class A, std::size_t... Reduced>
struct Reduction : expression_node {
  using reduced = axis_list<Reduced...>;
  using reducer_type = Reducer;
  using operand_type = A;
  using element_type = typename A::element_type;
  using value_type = typename A::value_type;
  using device_type = typename A::device_type;
  static constexpr std::size_t rank = A::rank - sizeof...(Reduced);
  static constexpr std::size_t collapse_depth = rank;
  static constexpr bool is_complex = true;

  A operand;
  Shape<rank> extents;

  explicit Reduction(A a) : operand(std::move(a)) {
    std::size_t o = 0;
    for (std::size_t axis = 0; axis < A::rank; ++axis)
      if (!reduced::contains(axis)) extents[o++] = operand.shape()[axis];
  }

  const Shape<rank>& shape() const noexcept { return extents; }
};

namespace detail {

template <class Reducer, class X, std::size_t... Reduced>
auto make_reduction(X&& x, axis_list<Reduced...>) {
  using A = node_t<X>;
  static_assert(!A::is_complex,
                "strata: reduce an element-wise expression or a tensor; assign a matrix product to a tensor first");
  static_assert(sizeof...(Reduced) > 0, "strata: name at least one axis to reduce, or call sum(x) for all of them");
  static_assert(axis_list<Reduced...>::valid_for(A::rank),
                "strata: reduction axes must be strictly increasing and below the operand's rank");
  static_assert(sizeof...(Reduced) < A::rank,
                "strata: reducing every axis gives a value, not a tensor: call sum(x) / mean(x) / max(x) / min(x)");
  return Reduction<Reducer, A, Reduced...>(as_node(std::forward<X>(x)));
}

template <class Reducer, class X>
auto reduce_everything(X&& x) {
  using A = node_t<X>;
  static_assert(!A::is_complex,
                "strata: reduce an element-wise expression or a tensor; assign a matrix product to a tensor first");
  const auto node = as_node(std::forward<X>(x));
  return device_traits<typename A::device_type>::template reduce_all<Reducer>(node);
}

}  // namespace detail

#define STRATA_DEFINE_REDUCTION(NAME)                                                      \
  /* over every element: a value of the accumulation type */                              \
  template <class X>                                                                      \
    requires Expression<X>                                                                \
  auto NAME(X&& x) {                                                                      \
    return detail::reduce_everything<reducer::NAME>(std::forward<X>(x));                 \
  }                                                                                       \
  /* over the named axes: a node to assign to a tensor of the remaining axes */           \
  template <class X, std::size_t... Axes>                                                 \
    requires Expression<X>                                                                \
  auto NAME(X&& x, axis_list<Axes...> a) {                                                \
    return detail::make_reduction<reducer::NAME>(std::forward<X>(x), a);                  \
  }

STRATA_DEFINE_REDUCTION(sum)
STRATA_DEFINE_REDUCTION(mean)
STRATA_DEFINE_REDUCTION(max)
STRATA_DEFINE_REDUCTION(min)

#undef STRATA_DEFINE_REDUCTION

}  // namespace strata

// The CPU kernels that evaluate reductions (they need the node types above).
#include "strata/core/cpu_reduce.hpp"
