// strata/core/expression.hpp — the protocol every expression node follows, the compile-time
// checks that turn mixed ranks, devices and element types into one named static_assert, and
// the conversion of operands (tensors, views, scalars, nodes) into nodes.
//
// A node is a small value type with:
//   element_type   the storage type its leaves hold (checked for equality across operands)
//   value_type     the type it computes in (precision_traits<element_type>::compute)
//   device_type, rank, shape()
//   is_complex     true for matrix products and reductions: they are evaluated by kernels and
//                  cannot be fused into an element-wise loop
//   collapse_depth how many trailing axes an element-wise loop may treat as one contiguous run
//   evaluator(k)   a trivially copyable functor v(row, col) giving the element at flat index
//                  row * inner + col, where inner is the product of the last k extents
//                  (k <= collapse_depth). Loops hoist per-row work out of the inner column loop.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "strata/config.hpp"
#include "strata/core/shape.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata {

// Marks expression nodes (not tensors): derive from it.
struct expression_node {};

// Marks owning tensors and views; they become leaf nodes when used in an expression.
struct tensor_like {};

template <class E>
concept ExpressionNode = std::derived_from<std::remove_cvref_t<E>, expression_node>;

template <class X>
concept TensorLike = std::derived_from<std::remove_cvref_t<X>, tensor_like>;

// Anything that can take part in an expression.
template <class X>
concept Expression = ExpressionNode<X> || TensorLike<X>;

// A scalar operand: a built-in number or any precision (precision_traits is the one list) whose
// elements have a value on their own (not dynamic fixed point, whose exponent is the tensor's, nor
// binary, whose elements are bits inside words).
template <class S>
concept Scalar = std::is_arithmetic_v<std::remove_cvref_t<S>> ||
                 (Precision<std::remove_cvref_t<S>> && !has_dynamic_scale<std::remove_cvref_t<S>> &&
                  !has_packed_storage<std::remove_cvref_t<S>>);

// How a destination combines with what is assigned to it.
enum class assign_mode { set, add, subtract };

namespace detail {

template <class E>
constexpr std::size_t collapse_depth_of() {
  return std::remove_cvref_t<E>::collapse_depth;
}

// Product of the last k extents of s: the length of a contiguous run when k axes collapse.
template <std::size_t Rank>
STRATA_HD constexpr std::int64_t inner_extent(const Shape<Rank>& s, std::size_t k) {
  return s.elements_from(Rank - k);
}

}  // namespace detail

// W consecutive elements of one row, loaded at once. A leaf whose memory is aligned to the
// packet (the CUDA kernels check before they use packets) reads them with one vector load;
// nodes without a packet path fall back to W scalar reads.
template <class T, int W>
struct alignas(sizeof(T) * W) packet_storage {
  T v[W];
};

template <int W, class Eval, class V>
STRATA_HD STRATA_INLINE void load_packet(const Eval& e, std::int64_t r, std::int64_t c, V* v) {
  if constexpr (requires { e.template load<W>(r, c, v); }) {
    e.template load<W>(r, c, v);
  } else {
    for (int k = 0; k < W; ++k) v[k] = e(r, c + k);
  }
}

// Named compile-time checks for combining two operands. Each message says what to do.
template <class L, class R>
constexpr bool elementwise_compatible() {
  static_assert(!L::is_complex && !R::is_complex,
                "strata: a matrix product or an axis reduction cannot be an operand of an "
                "element-wise expression; assign it to a tensor first (fusion stops at complex nodes)");
  static_assert(std::is_same_v<typename L::device_type, typename R::device_type>,
                "strata: the operands live on different devices (cpu and cuda); copy one explicitly "
                "with strata::copy(src, dst)");
  static_assert(L::rank == R::rank,
                "strata: the operands of an element-wise expression have different ranks; broadcast "
                "the lower-rank one with strata::broadcast(x, axes<...>, shape)");
  static_assert(std::is_same_v<typename L::element_type, typename R::element_type>,
                "strata: the operands have different element types; convert one with strata::cast<T>(x)");
  return !L::is_complex && !R::is_complex &&
         std::is_same_v<typename L::device_type, typename R::device_type> && L::rank == R::rank &&
         std::is_same_v<typename L::element_type, typename R::element_type>;
}

// Returned by an operator whose static_assert has just failed. Operators and assignments
// accept it silently, so one mistake gives one message instead of a cascade. It only exists in
// programs that do not compile.
struct invalid_expression : expression_node {
  static constexpr bool is_complex = false;
};

template <class E>
inline constexpr bool is_invalid_v = std::is_same_v<std::remove_cvref_t<E>, invalid_expression>;

}  // namespace strata
