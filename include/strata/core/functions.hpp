// strata/core/functions.hpp — element-wise functions on expressions: exp, log, sqrt, abs,
// tanh, sigmoid, sign, square, max/min with a scalar or another expression, clamp. Float
// versions use strata's own vectorisable exp/log/tanh, so `d = exp(a) * b` stays one SIMD loop.
#pragma once

#include <cmath>
#include <utility>

#include "strata/core/elementwise.hpp"
#include "strata/numeric/elementary_functions.hpp"

namespace strata {

namespace op {
struct exp {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const { return elementary::exp(a); }
};
struct log {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const { return elementary::log(a); }
};
struct tanh {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const { return elementary::tanh(a); }
};
struct sigmoid {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const { return elementary::sigmoid(a); }
};
struct sqrt {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const { return std::sqrt(a); }
};
struct abs {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const { return std::abs(a); }
};
struct square {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const { return a * a; }
};
// -1, 0 or +1 (NaN stays NaN, as in PyTorch's sign).
struct sign {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const {
    const V s = a > V(0) ? V(1) : (a < V(0) ? V(-1) : V(0));
    return a != a ? a : s;
  }
};
// max/min: a NaN operand gives NaN, so a bad value is never hidden by a clamp.
template <class V>
struct max_scalar {
  V bound;
  STRATA_HD STRATA_INLINE V operator()(V a) const { return a < bound ? bound : a; }
};
template <class V>
struct min_scalar {
  V bound;
  STRATA_HD STRATA_INLINE V operator()(V a) const { return a > bound ? bound : a; }
};
template <class V>
struct clamp {
  V lo, hi;
  STRATA_HD STRATA_INLINE V operator()(V a) const { return a < lo ? lo : (a > hi ? hi : a); }
};
struct maximum {
  static constexpr const char* name = "max";
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a, V b) const { return (a < b || b != b) ? b : a; }
};
struct minimum {
  static constexpr const char* name = "min";
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a, V b) const { return (a > b || b != b) ? b : a; }
};
}  // namespace op

#define STRATA_DEFINE_UNARY_FUNCTION(NAME)                          \
  template <class X>                                                \
    requires Expression<X>                                          \
  auto NAME(X&& x) {                                                \
    return detail::make_unary(op::NAME{}, std::forward<X>(x));      \
  }

STRATA_DEFINE_UNARY_FUNCTION(exp)
STRATA_DEFINE_UNARY_FUNCTION(log)
STRATA_DEFINE_UNARY_FUNCTION(tanh)
STRATA_DEFINE_UNARY_FUNCTION(sigmoid)
STRATA_DEFINE_UNARY_FUNCTION(sqrt)
STRATA_DEFINE_UNARY_FUNCTION(abs)
STRATA_DEFINE_UNARY_FUNCTION(square)
STRATA_DEFINE_UNARY_FUNCTION(sign)

#undef STRATA_DEFINE_UNARY_FUNCTION

template <class X, Scalar S>
  requires Expression<X>
auto max(X&& x, S bound) {
  using V = typename node_t<X>::value_type;
  return detail::make_unary(op::max_scalar<V>{static_cast<V>(bound)}, std::forward<X>(x));
}
template <class X, Scalar S>
  requires Expression<X>
auto min(X&& x, S bound) {
  using V = typename node_t<X>::value_type;
  return detail::make_unary(op::min_scalar<V>{static_cast<V>(bound)}, std::forward<X>(x));
}
template <class X, Scalar S1, Scalar S2>
  requires Expression<X>
auto clamp(X&& x, S1 lo, S2 hi) {
  using V = typename node_t<X>::value_type;
  if (!(static_cast<V>(lo) <= static_cast<V>(hi)))
    throw error("clamp: lower bound " + std::to_string(static_cast<double>(lo)) + " is above upper bound " +
                std::to_string(static_cast<double>(hi)));
  return detail::make_unary(op::clamp<V>{static_cast<V>(lo), static_cast<V>(hi)}, std::forward<X>(x));
}
// Any element-wise function of your own: a functor object with `V operator()(V) const` (or of
// two values for two operands), fused like the built-in ones. Mark it STRATA_HD to use it in
// CUDA expressions too.
template <class F>
struct user_binary_op {
  static constexpr const char* name = "elementwise";
  F f;
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a, V b) const { return f(a, b); }
};
template <class F, class X>
  requires Expression<X>
auto elementwise(F f, X&& x) {
  return detail::make_unary(f, std::forward<X>(x));
}
template <class F, class L, class R>
  requires Expression<L> && Expression<R>
auto elementwise(F f, L&& l, R&& r) {
  return detail::make_binary(user_binary_op<F>{f}, std::forward<L>(l), std::forward<R>(r));
}

template <class L, class R>
  requires Expression<L> && Expression<R>
auto max(L&& l, R&& r) {
  return detail::make_binary(op::maximum{}, std::forward<L>(l), std::forward<R>(r));
}
template <class L, class R>
  requires Expression<L> && Expression<R>
auto min(L&& l, R&& r) {
  return detail::make_binary(op::minimum{}, std::forward<L>(l), std::forward<R>(r));
}

}  // namespace strata
