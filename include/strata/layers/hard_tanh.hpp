// strata/layers/hard_tanh.hpp — HardTanh: min(max(x, −1), 1), the activation of BinaryNet's real
// counterpart; its gradient passes where −1 < x < 1, as PyTorch's. In a binary model
// (net/binary_network.hpp) each HardTanh becomes Sign, whose straight-through gradient is the same
// window, so one network definition trains in fp32 and binarised.
#pragma once

#include "strata/layers/activation.hpp"

namespace strata {

namespace detail {
struct hard_tanh_function {
  static constexpr const char* name = "hardtanh";
  static constexpr bool backward_uses_output = true;  // −1 < y < 1 exactly where −1 < x < 1
  template <class V>
  STRATA_HD V forward(V x) const { return x < V(-1) ? V(-1) : (x > V(1) ? V(1) : x); }  // NaN stays NaN
  template <class V>
  STRATA_HD V backward(V y, V dy) const { return y > V(-1) && y < V(1) ? dy : V(0); }
};
}  // namespace detail

struct HardTanh : detail::activation_spec<detail::hard_tanh_function> {};

}  // namespace strata
