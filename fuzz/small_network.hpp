// fuzz/small_network.hpp — the network the model-file and ONNX targets load into: small, so a
// valid file fits a fuzz input, and with the layers whose entries and graphs the readers check
// (a convolution, an activation, a flatten, a dense layer).
#pragma once

#include <cstddef>
#include <cstring>
#include <vector>

#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"

namespace strata::fuzz {
using small_network = Sequential<Input<1, 8, 8>, Conv<4, Kernel<3>>, ReLU, Flatten, Dense<3>>;

// Every weight of the model, in visiting order.
inline std::vector<float> weights_of(Model<small_network>& m) {
  std::vector<float> w;
  m.visit_parameters([&](const auto& p) { w.insert(w.end(), p.value.data(), p.value.data() + p.value.size()); });
  return w;
}

// Puts weights_of's values back.
inline void set_weights(Model<small_network>& m, const std::vector<float>& w) {
  std::size_t k = 0;
  m.visit_parameters([&](const auto& p) {
    std::memcpy(p.value.data(), w.data() + k, std::size_t(p.value.size()) * sizeof(float));
    k += std::size_t(p.value.size());
  });
}

// A reader that fails must leave the model as it was: abort (a finding) when it did not, and
// put the starting weights back when the input loaded.
inline void check_untouched_unless_loaded(Model<small_network>& m, const std::vector<float>& before, bool loaded) {
  if (loaded) return set_weights(m, before);
  if (weights_of(m) != before) std::abort();
}
}  // namespace strata::fuzz
