// strata/core/transpose.hpp — transpose(x) of a matrix (rank 2): usable in element-wise
// expressions (a strided read) and recognised by matmul, which passes it to GEMM as a flag
// instead of moving any data.
#pragma once

#include <utility>

#include "strata/core/elementwise.hpp"

namespace strata {

template <class A>
struct Transposed : expression_node {
  using element_type = typename A::element_type;
  using value_type = typename A::value_type;
  using device_type = typename A::device_type;
  static constexpr std::size_t rank = 2;
  static constexpr std::size_t collapse_depth = 1;
  static constexpr bool is_complex = false;

  A operand;
  Shape<2> extents;

  explicit Transposed(A a) : operand(std::move(a)), extents{operand.shape()[1], operand.shape()[0]} {}

  const Shape<2>& shape() const noexcept { return extents; }

  template <class EA>
  struct evaluator_of {
    EA a;  // rows of the operand are columns of the result
    STRATA_HD STRATA_INLINE value_type operator()(std::int64_t r, std::int64_t c) const { return a(c, r); }
  };
  auto evaluator(std::size_t) const {
    return evaluator_of<decltype(operand.evaluator(1))>{operand.evaluator(1)};
  }
};

template <class X>
  requires Expression<X>
auto transpose(X&& x) {
  using A = node_t<X>;
  static_assert(A::rank == 2, "strata::transpose: the operand must be a matrix (rank 2)");
  static_assert(!A::is_complex,
                "strata::transpose: assign a matrix product or reduction to a tensor before transposing it");
  return Transposed<A>(as_node(std::forward<X>(x)));
}

}  // namespace strata
