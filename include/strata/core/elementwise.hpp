// strata/core/elementwise.hpp — element-wise expression nodes: constants, unary and binary
// maps, and the + - * / operators between tensors, expressions and scalars. Nothing is
// computed here; assignment evaluates the whole tree in one loop.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/core/expression.hpp"
#include "strata/core/tensor.hpp"

namespace strata {

// A scalar repeated over a shape: the right-hand side of `a * 2`.
template <class Elem, std::size_t Rank, class D>
struct Constant : expression_node {
  using element_type = Elem;
  using value_type = compute_t<Elem>;
  using device_type = D;
  static constexpr std::size_t rank = Rank;
  static constexpr std::size_t collapse_depth = Rank;
  static constexpr bool is_complex = false;

  value_type value;
  Shape<Rank> extents;

  const Shape<Rank>& shape() const noexcept { return extents; }

  struct evaluator_type {
    value_type value;
    STRATA_HD STRATA_INLINE value_type operator()(std::int64_t, std::int64_t) const { return value; }
    template <int W>
    STRATA_HD STRATA_INLINE void load(std::int64_t, std::int64_t, value_type* v) const {
      for (int k = 0; k < W; ++k) v[k] = value;
    }
  };
  evaluator_type evaluator(std::size_t) const noexcept { return {value}; }
};

// The scalar `s` as a node shaped like node `n`, converted to n's compute type.
template <class N, Scalar S>
Constant<typename N::element_type, N::rank, typename N::device_type> constant_like(const N& n, S s) {
  return {{}, static_cast<typename N::value_type>(s), n.shape()};
}

template <class Op, class A>
struct UnaryMap : expression_node {
  using element_type = typename A::element_type;
  using value_type = typename A::value_type;
  using device_type = typename A::device_type;
  static constexpr std::size_t rank = A::rank;
  static constexpr std::size_t collapse_depth = A::collapse_depth;
  static constexpr bool is_complex = false;

  Op op;
  A operand;

  decltype(auto) shape() const noexcept { return operand.shape(); }

  template <class EA>
  struct evaluator_of {
    Op op;
    EA a;
    STRATA_HD STRATA_INLINE value_type operator()(std::int64_t r, std::int64_t c) const { return op(a(r, c)); }
    template <int W>
    STRATA_HD STRATA_INLINE void load(std::int64_t r, std::int64_t c, value_type* v) const {
      load_packet<W>(a, r, c, v);
      for (int k = 0; k < W; ++k) v[k] = op(v[k]);
    }
  };
  auto evaluator(std::size_t collapsed) const {
    return evaluator_of<decltype(operand.evaluator(collapsed))>{op, operand.evaluator(collapsed)};
  }
};

template <class Op, class A, class B>
struct BinaryMap : expression_node {
  using element_type = typename A::element_type;
  using value_type = typename A::value_type;
  using device_type = typename A::device_type;
  static constexpr std::size_t rank = A::rank;
  static constexpr std::size_t collapse_depth = std::min(A::collapse_depth, B::collapse_depth);
  static constexpr bool is_complex = false;

  Op op;
  A lhs;
  B rhs;

  BinaryMap(Op o, A a, B b) : op(o), lhs(std::move(a)), rhs(std::move(b)) {
    if (lhs.shape() != rhs.shape())
      throw shape_error(std::string(Op::name) + ": operand shapes " + lhs.shape().to_string() + " and " +
                        rhs.shape().to_string() + " differ");
  }

  decltype(auto) shape() const noexcept { return lhs.shape(); }

  template <class EA, class EB>
  struct evaluator_of {
    Op op;
    EA a;
    EB b;
    STRATA_HD STRATA_INLINE value_type operator()(std::int64_t r, std::int64_t c) const {
      return op(a(r, c), b(r, c));
    }
    template <int W>
    STRATA_HD STRATA_INLINE void load(std::int64_t r, std::int64_t c, value_type* v) const {
      value_type x[W], y[W];
      load_packet<W>(a, r, c, x);
      load_packet<W>(b, r, c, y);
      for (int k = 0; k < W; ++k) v[k] = op(x[k], y[k]);
    }
  };
  auto evaluator(std::size_t collapsed) const {
    return evaluator_of<decltype(lhs.evaluator(collapsed)), decltype(rhs.evaluator(collapsed))>{
        op, lhs.evaluator(collapsed), rhs.evaluator(collapsed)};
  }
};

// ---------------------------------------------------------------------------------------------
// Operations. Each is a small functor, usable on host and device.

namespace op {
struct plus {
  static constexpr const char* name = "operator+";
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a, V b) const { return a + b; }
};
struct minus {
  static constexpr const char* name = "operator-";
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a, V b) const { return a - b; }
};
struct multiplies {
  static constexpr const char* name = "operator*";
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a, V b) const { return a * b; }
};
struct divides {
  static constexpr const char* name = "operator/";
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a, V b) const { return a / b; }
};
struct negate {
  template <class V>
  STRATA_HD STRATA_INLINE V operator()(V a) const { return -a; }
};
}  // namespace op

namespace detail {

template <class Op, class X>
auto make_unary(Op op, X&& x) {
  using A = node_t<X>;
  if constexpr (is_invalid_v<A>) {
    return invalid_expression{};
  } else {
    static_assert(!A::is_complex,
                  "strata: a matrix product or an axis reduction cannot be an operand of an element-wise "
                  "expression; assign it to a tensor first (fusion stops at complex nodes)");
    return UnaryMap<Op, A>{{}, op, as_node(std::forward<X>(x))};
  }
}

template <class Op, class L, class R>
auto make_binary(Op op, L&& l, R&& r) {
  using A = node_t<L>;
  using B = node_t<R>;
  if constexpr (is_invalid_v<A> || is_invalid_v<B>) {
    return invalid_expression{};
  } else if constexpr (elementwise_compatible<A, B>()) {
    return BinaryMap<Op, A, B>(op, as_node(std::forward<L>(l)), as_node(std::forward<R>(r)));
  } else {
    return invalid_expression{};
  }
}

template <class Op, class L, Scalar S>
auto make_binary_scalar_right(Op op, L&& l, S s) {
  if constexpr (is_invalid_v<L>) return invalid_expression{};
  else {
  auto a = as_node(std::forward<L>(l));
  auto c = constant_like(a, s);
  return make_binary(op, std::move(a), c);
  }
}

template <class Op, Scalar S, class R>
auto make_binary_scalar_left(Op op, S s, R&& r) {
  if constexpr (is_invalid_v<R>) return invalid_expression{};
  else {
  auto b = as_node(std::forward<R>(r));
  auto c = constant_like(b, s);
  return make_binary(op, c, std::move(b));
  }
}

}  // namespace detail

#define STRATA_DEFINE_BINARY_OPERATOR(SYMBOL, OP)                                    \
  template <class L, class R>                                                        \
    requires Expression<L> && Expression<R>                                          \
  auto operator SYMBOL(L&& l, R&& r) {                                               \
    return detail::make_binary(OP{}, std::forward<L>(l), std::forward<R>(r));        \
  }                                                                                  \
  template <class L, Scalar S>                                                       \
    requires Expression<L>                                                           \
  auto operator SYMBOL(L&& l, S s) {                                                 \
    return detail::make_binary_scalar_right(OP{}, std::forward<L>(l), s);            \
  }                                                                                  \
  template <Scalar S, class R>                                                       \
    requires Expression<R>                                                           \
  auto operator SYMBOL(S s, R&& r) {                                                 \
    return detail::make_binary_scalar_left(OP{}, s, std::forward<R>(r));             \
  }

STRATA_DEFINE_BINARY_OPERATOR(+, op::plus)
STRATA_DEFINE_BINARY_OPERATOR(-, op::minus)
STRATA_DEFINE_BINARY_OPERATOR(*, op::multiplies)
STRATA_DEFINE_BINARY_OPERATOR(/, op::divides)

#undef STRATA_DEFINE_BINARY_OPERATOR

template <class X>
  requires Expression<X>
auto operator-(X&& x) {
  return detail::make_unary(op::negate{}, std::forward<X>(x));
}

}  // namespace strata
