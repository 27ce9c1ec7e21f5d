// strata/core/cast.hpp — cast<T>(x): converts an expression's elements to another element
// type inside the same fused loop (fp32 → fp16 rounds to nearest even, like storing would).
#pragma once

#include <type_traits>
#include <utility>

#include "strata/core/elementwise.hpp"

namespace strata {

template <class To, class A>
struct Cast : expression_node {
  using element_type = To;
  using value_type = compute_t<To>;
  using device_type = typename A::device_type;
  static constexpr std::size_t rank = A::rank;
  static constexpr std::size_t collapse_depth = A::collapse_depth;
  static constexpr bool is_complex = false;

  A operand;

  decltype(auto) shape() const noexcept { return operand.shape(); }

  using from_type = typename A::value_type;

  STRATA_HD STRATA_INLINE static value_type convert(from_type x) {
    if constexpr (std::is_same_v<from_type, value_type> && std::is_same_v<To, value_type>) {
      return x;
    } else if constexpr (std::is_same_v<To, value_type>) {
      return static_cast<To>(x);
    } else if constexpr (has_dynamic_scale<To>) {
      return static_cast<value_type>(x);  // rounded where it is stored, with that tensor's exponent
    } else {
      // A storage type narrower than its compute type (half): round as storing would.
      using traits = precision_traits<To>;
      return traits::to_compute(traits::from_compute(static_cast<value_type>(x)));
    }
  }

  template <class EA>
  struct evaluator_of {
    EA a;
    STRATA_HD STRATA_INLINE value_type operator()(std::int64_t r, std::int64_t c) const { return convert(a(r, c)); }
    template <int W>
    STRATA_HD STRATA_INLINE void load(std::int64_t r, std::int64_t c, value_type* v) const {
      from_type x[W];
      load_packet<W>(a, r, c, x);
      for (int k = 0; k < W; ++k) v[k] = convert(x[k]);
    }
  };
  auto evaluator(std::size_t collapsed) const {
    return evaluator_of<decltype(operand.evaluator(collapsed))>{operand.evaluator(collapsed)};
  }
};

template <class To, class X>
  requires Expression<X>
auto cast(X&& x) {
  using A = node_t<X>;
  static_assert(Precision<To>, "strata::cast<T>: T has no precision_traits<T> (supported: double, float, half, integers)");
  static_assert(!A::is_complex,
                "strata: a matrix product or an axis reduction cannot be an operand of an element-wise "
                "expression; assign it to a tensor first (fusion stops at complex nodes)");
  return Cast<To, A>{{}, as_node(std::forward<X>(x))};
}

}  // namespace strata
