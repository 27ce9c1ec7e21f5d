// strata/layers/sign.hpp — Sign: the binarising activation of BinaryNet (Courbariaux, Hubara et
// al. 2016): +1 where x ≥ 0 (and for NaN), −1 where x < 0, with the straight-through estimator
// as gradient: dy passes where |x| ≤ 1 and is cancelled elsewhere. Its outputs are exactly ±1, so
// the binary layers after it pack them into bits without loss.
#pragma once

#include "strata/layers/activation.hpp"

namespace strata {

namespace detail {
struct sign_function {
  static constexpr const char* name = "sign (straight-through)";
  static constexpr bool backward_uses_output = false;  // the window is on the input
  template <class V>
  STRATA_HD V forward(V x) const { return x < V(0) ? V(-1) : V(1); }
  template <class V>
  STRATA_HD V backward(V x, V dy) const { return x >= V(-1) && x <= V(1) ? dy : V(0); }
};
}  // namespace detail

struct Sign : detail::activation_spec<detail::sign_function> {};

}  // namespace strata
