// strata/layers/sigmoid.hpp — Sigmoid 1/(1 + e^−x); its gradient y(1 − y) comes from the output.
#pragma once

#include "strata/layers/activation.hpp"
#include "strata/numeric/elementary_functions.hpp"

namespace strata {

namespace detail {
struct sigmoid_function {
  static constexpr const char* name = "sigmoid";
  static constexpr bool backward_uses_output = true;
  template <class V>
  STRATA_HD V forward(V x) const { return elementary::sigmoid(x); }
  template <class V>
  STRATA_HD V backward(V y, V dy) const { return dy * y * (V(1) - y); }
};
}  // namespace detail

struct Sigmoid : detail::activation_spec<detail::sigmoid_function> {};

}  // namespace strata
