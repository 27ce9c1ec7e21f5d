// strata/train/adam.hpp — Adam (Kingma & Ba 2015) with bias correction, PyTorch's update rule:
//   g = ∇ + λ·w;  m = β₁m + (1−β₁)g;  v = β₂v + (1−β₂)g²;  w −= lr·m̂ / (√v̂ + ε)
// or, with decoupled weight decay (AdamW), w −= lr·(m̂/(√v̂ + ε) + λ·w).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/tensor.hpp"
#include "strata/net/layer.hpp"

namespace strata::train {

struct adam_options {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
};

template <class T = float>
class Adam {
 public:
  explicit Adam(adam_options o = {}) : options_(o) {
    if (o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1)
      throw error("Adam: betas must be in [0, 1), got " + std::to_string(o.beta1) + " and " + std::to_string(o.beta2));
    if (o.epsilon <= 0) throw error("Adam: epsilon must be positive, got " + std::to_string(o.epsilon));
    if (o.weight_decay < 0) throw error("Adam: weight decay must be non-negative, got " + std::to_string(o.weight_decay));
  }

  template <class Model>
  void step(Model& model, double lr) {
    ++t_;
    const T b1 = T(options_.beta1), b2 = T(options_.beta2);
    const T correction1 = T(1 - std::pow(options_.beta1, double(t_)));
    const T correction2 = T(1 - std::pow(options_.beta2, double(t_)));
    const T rate = T(lr), eps = T(options_.epsilon);
    std::size_t i = 0;
    model.visit_parameters([&](const parameter_ref<T>& p) {
      if (first_.size() <= i) {
        first_.emplace_back(p.value.shape());
        second_.emplace_back(p.value.shape());
      }
      auto& m = first_[i];
      auto& v = second_[i];
      if (m.size() != p.value.size())
        throw error("Adam: parameter " + p.name + " changed size since the optimizer's first step");
      const T decay = p.weight_decay ? T(options_.weight_decay) : T(0);
      auto w = p.value;
      if (options_.decoupled_weight_decay) {
        m = m * b1 + p.gradient * (T(1) - b1);
        v = v * b2 + square(p.gradient) * (T(1) - b2);
        w -= (m / correction1 / (sqrt(v / correction2) + eps) + w * decay) * rate;
      } else {
        m = m * b1 + (p.gradient + w * decay) * (T(1) - b1);
        v = v * b2 + square(p.gradient + w * decay) * (T(1) - b2);
        w -= m / correction1 / (sqrt(v / correction2) + eps) * rate;
      }
      ++i;
    });
  }

  const adam_options& options() const noexcept { return options_; }
  std::int64_t steps() const noexcept { return t_; }

 private:
  adam_options options_;
  std::int64_t t_ = 0;
  std::vector<Tensor<T, 1>> first_, second_;
};

}  // namespace strata::train
