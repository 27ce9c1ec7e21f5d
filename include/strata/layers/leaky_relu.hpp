// strata/layers/leaky_relu.hpp — LeakyReLU<slope>: x for x > 0, slope·x otherwise
// (LeakyReLU<> is PyTorch's default slope 0.01).
#pragma once

#include <string>

#include "strata/layers/activation.hpp"

namespace strata {

namespace detail {
template <float Slope>
struct leaky_relu_function {
  static constexpr const char* name = "leaky relu";
  static constexpr bool backward_uses_output = false;
  template <class V>
  STRATA_HD V forward(V x) const { return x > V(0) ? x : V(Slope) * x; }
  template <class V>
  STRATA_HD V backward(V x, V dy) const { return x > V(0) ? dy : V(Slope) * dy; }
};
}  // namespace detail

template <float Slope = 0.01f>
struct LeakyReLU : detail::activation_spec<detail::leaky_relu_function<Slope>> {
  static_assert(Slope >= 0 && Slope < 1, "strata::LeakyReLU<slope>: the slope must be in [0, 1)");
};

}  // namespace strata
