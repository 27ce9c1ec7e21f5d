// strata/layers/relu6.hpp — ReLU6: min(max(x, 0), 6), the clipped ReLU of MobileNet and
// EfficientNet-Lite (bounded activations survive low-precision inference); the gradient passes
// where 0 < x < 6, as PyTorch's hardtanh.
#pragma once

#include "strata/layers/activation.hpp"

namespace strata {

namespace detail {
struct relu6_function {
  static constexpr const char* name = "relu6";
  static constexpr bool backward_uses_output = true;  // 0 < y < 6 exactly where 0 < x < 6
  template <class V>
  STRATA_HD V forward(V x) const { return x < V(0) ? V(0) : (x > V(6) ? V(6) : x); }  // NaN stays NaN
  template <class V>
  STRATA_HD V backward(V y, V dy) const { return y > V(0) && y < V(6) ? dy : V(0); }
};
}  // namespace detail

struct ReLU6 : detail::activation_spec<detail::relu6_function> {};

}  // namespace strata
