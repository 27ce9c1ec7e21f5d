// strata/layers/tanh.hpp — Tanh; its gradient 1 − y² comes from the output.
#pragma once

#include "strata/layers/activation.hpp"
#include "strata/numeric/elementary_functions.hpp"

namespace strata {

namespace detail {
struct tanh_function {
  static constexpr const char* name = "tanh";
  static constexpr bool backward_uses_output = true;
  template <class V>
  STRATA_HD V forward(V x) const { return elementary::tanh(x); }
  template <class V>
  STRATA_HD V backward(V y, V dy) const { return dy * (V(1) - y * y); }
};
}  // namespace detail

struct Tanh : detail::activation_spec<detail::tanh_function> {};

}  // namespace strata
