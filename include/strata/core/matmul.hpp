// strata/core/matmul.hpp — matmul(a, b): the matrix product as a complex node. It is never
// fused; assigning it runs one GEMM (`c = matmul(a, b)`, `c += matmul(transpose(a), b)`),
// with transposes passed to GEMM as flags. The GEMMs themselves are the devices' kernels
// (strata/ops/gemm.hpp brings the CPU's): the core knows no BLAS.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "strata/core/elementwise.hpp"
#include "strata/core/transpose.hpp"

namespace strata {

namespace detail {
template <class N>
inline constexpr bool is_transposed_v = false;
template <class A>
inline constexpr bool is_transposed_v<Transposed<A>> = true;

template <class N>
inline constexpr bool is_storage_node_v = false;
template <class T, std::size_t R, class D>
inline constexpr bool is_storage_node_v<TensorRef<T, R, D>> = true;
template <class T, std::size_t R, class D>
inline constexpr bool is_storage_node_v<TensorOwner<T, R, D>> = true;

template <class N>
constexpr bool is_gemm_operand() {
  if constexpr (is_transposed_v<N>) return is_storage_node_v<decltype(std::declval<N>().operand)>;
  else return is_storage_node_v<N>;
}

// Pointer, leading dimension and transpose flag of a GEMM operand.
template <class N>
auto gemm_operand(const N& node) {
  struct operand {
    const typename N::element_type* data;
    std::int64_t ld;
    bool transposed;
  };
  if constexpr (is_transposed_v<N>) {
    const auto ref = node.operand.evaluator(2);
    return operand{ref.data, node.operand.shape()[1], true};
  } else {
    const auto ref = node.evaluator(2);
    return operand{ref.data, node.shape()[1], false};
  }
}
}  // namespace detail

template <class A, class B>
struct MatMul : expression_node {
  using element_type = typename A::element_type;
  using value_type = typename A::value_type;
  using device_type = typename A::device_type;
  static constexpr std::size_t rank = 2;
  static constexpr std::size_t collapse_depth = 2;
  static constexpr bool is_complex = true;

  A lhs;
  B rhs;
  Shape<2> extents;

  MatMul(A a, B b) : lhs(std::move(a)), rhs(std::move(b)), extents{lhs.shape()[0], rhs.shape()[1]} {
    if (lhs.shape()[1] != rhs.shape()[0])
      throw shape_error("matmul: " + lhs.shape().to_string() + " times " + rhs.shape().to_string() +
                        ": inner extents " + std::to_string(lhs.shape()[1]) + " and " +
                        std::to_string(rhs.shape()[0]) + " differ");
  }

  const Shape<2>& shape() const noexcept { return extents; }
};

// a·b for matrices, or transposes of matrices (no data moves for the transpose).
template <class X, class Y>
  requires Expression<X> && Expression<Y>
auto matmul(X&& x, Y&& y) {
  using A = node_t<X>;
  using B = node_t<Y>;
  static_assert(A::rank == 2 && B::rank == 2, "strata::matmul: both operands must be matrices (rank 2)");
  static_assert(detail::is_gemm_operand<A>() && detail::is_gemm_operand<B>(),
                "strata::matmul: operands must be tensors, views or transpose(tensor); assign other "
                "expressions to a tensor first (a product is not fused)");
  static_assert(std::is_same_v<typename A::device_type, typename B::device_type>,
                "strata::matmul: the operands live on different devices; copy one explicitly");
  static_assert(std::is_same_v<typename A::element_type, typename B::element_type>,
                "strata::matmul: the operands have different element types; convert one with strata::cast<T>");
  return MatMul<A, B>(as_node(std::forward<X>(x)), as_node(std::forward<Y>(y)));
}

namespace detail {

// What every device does with a product: GEMM must not write what it reads, so a destination
// that overlaps an operand goes through a temporary; otherwise one GEMM call with
// alpha = ±1 and beta = 0 or 1 for set / add / subtract: gemm(a, b, m, n, k, alpha, beta, c).
template <class T, class D, class A, class B, class Gemm>
void evaluate_matmul(const TensorView<T, 2, D>& dst, const MatMul<A, B>& node, assign_mode mode, const Gemm& gemm) {
  const auto a = gemm_operand(node.lhs);
  const auto b = gemm_operand(node.rhs);
  const std::int64_t m = node.shape()[0], n = node.shape()[1], k = node.lhs.shape()[1];
  const auto overlaps = [&](const T* p, std::int64_t count) {
    return p < dst.data() + dst.size() && dst.data() < p + count;
  };
  if (overlaps(a.data, m * k) || overlaps(b.data, k * n)) {
    Tensor<T, 2, D> tmp = Tensor<T, 2, D>::uninitialized(dst.shape());
    evaluate_matmul(tmp.view(), node, assign_mode::set, gemm);
    switch (mode) {
      case assign_mode::set: assign(dst, tmp.ref()); break;
      case assign_mode::add: assign<assign_mode::add>(dst, tmp.ref()); break;
      case assign_mode::subtract: assign<assign_mode::subtract>(dst, tmp.ref()); break;
    }
    return;
  }
  gemm(a, b, m, n, k, mode == assign_mode::subtract ? -1 : 1, mode == assign_mode::set ? 0 : 1, dst.data());
}

}  // namespace detail

// Named in the compiler's note when no device kernel evaluates a product.
template <class Device, class T>
struct no_gemm_kernel_for {
  static constexpr bool ok = false;
};

// The fallback when no device's GEMM is visible: one named error. The CPU's GEMM is in
// strata/kernels/cpu/gemm.hpp (brought by strata/ops/gemm.hpp and strata/strata.hpp), CUDA's in
// strata/kernels/cuda/gemm.cuh (strata/cuda.hpp); each is a more specialised overload.
template <class D, class T, class A, class B>
void evaluate_complex(D, const TensorView<T, 2, D>&, const MatMul<A, B>&, assign_mode) {
  static_assert(no_gemm_kernel_for<D, T>::ok,
                "strata::matmul: no GEMM kernel is included for this device: include <strata/ops/gemm.hpp> "
                "(or <strata/strata.hpp>) for the CPU, <strata/cuda.hpp> for CUDA");
}

}  // namespace strata
