// strata/layers/relu.hpp — ReLU: max(x, 0); the gradient passes where x > 0.
#pragma once

#include "strata/ops/activation.hpp"  // fp16 on the CPU: op_kernel<op::relu> on bit patterns
#include "strata/layers/activation.hpp"

namespace strata {

namespace detail {
struct relu_function {
  static constexpr const char* name = "relu";
  static constexpr bool backward_uses_output = true;  // y > 0 exactly where x > 0
  using kernel_op = kernels::op::relu;                // where a device has one for the precision
  template <class V>
  STRATA_HD V forward(V x) const { return x < V(0) ? V(0) : x; }  // NaN stays NaN
  template <class V>
  STRATA_HD V backward(V y, V dy) const { return y > V(0) ? dy : V(0); }
};
}  // namespace detail

struct ReLU : detail::activation_spec<detail::relu_function> {};

}  // namespace strata
