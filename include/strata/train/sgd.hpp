// strata/train/sgd.hpp — stochastic gradient descent with momentum, Nesterov momentum and
// weight decay, with PyTorch's update rule (so hyper-parameters carry over):
//   g = ∇ + λ·w;  v = μ·v + g;  w −= lr · (nesterov ? g + μ·v : v)
// Weight decay skips parameters marked exempt (biases, normalisation scales and shifts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/tensor.hpp"
#include "strata/net/layer.hpp"

namespace strata::train {

struct sgd_options {
  double momentum = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

template <class T = float>
class SGD {
 public:
  explicit SGD(sgd_options o = {}) : options_(o) {
    if (o.momentum < 0 || o.momentum >= 1) throw error("SGD: momentum must be in [0, 1), got " + std::to_string(o.momentum));
    if (o.weight_decay < 0) throw error("SGD: weight decay must be non-negative, got " + std::to_string(o.weight_decay));
    if (o.nesterov && o.momentum == 0) throw error("SGD: Nesterov momentum needs a momentum above 0");
  }

  // One update of every parameter of `model` with learning rate lr.
  template <class Model>
  void step(Model& model, double lr) {
    std::size_t i = 0;
    const T mu = T(options_.momentum), rate = T(lr);
    model.visit_parameters([&](const parameter_ref<T>& p) {
      const T decay = p.weight_decay ? T(options_.weight_decay) : T(0);
      auto w = p.value;
      if (mu == T(0)) {
        w -= (p.gradient + w * decay) * rate;
      } else {
        if (velocity_.size() <= i) velocity_.emplace_back(p.value.shape());  // starts at 0: v₁ = g₁
        auto& v = velocity_[i];
        if (v.size() != p.value.size())
          throw error("SGD: parameter " + p.name + " changed size since the optimizer's first step");
        v = v * mu + p.gradient + w * decay;
        if (options_.nesterov) w -= (p.gradient + w * decay + v * mu) * rate;
        else w -= v * rate;
      }
      ++i;
    });
  }

  const sgd_options& options() const noexcept { return options_; }
  // Momentum buffers in visiting order (saved with a model to resume training).
  std::vector<Tensor<T, 1>>& state() noexcept { return velocity_; }

 private:
  sgd_options options_;
  std::vector<Tensor<T, 1>> velocity_;
};

}  // namespace strata::train
