// strata/train/adam.hpp — Adam (Kingma & Ba 2015) with bias correction, PyTorch's update rule:
//   g = ∇ + λ·w;  m = β₁m + (1−β₁)g;  v = β₂v + (1−β₂)g²;  w −= lr·m̂ / (√v̂ + ε)
// or, with decoupled weight decay (AdamW), w −= lr·(m̂/(√v̂ + ε) + λ·w). lr is scaled by each
// parameter's layer multiplier (parameter_ref::rate); frozen parameters (0) are left alone.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/layer.hpp"
#include "strata/train/optimizer.hpp"

namespace strata::train {

struct adam_options {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
};

template <class T = float, class D = cpu>
class Adam {
 public:
  using master_type = master_t<T>;
  static constexpr std::string_view checkpoint_kind = "adam";  // its name in a checkpoint

  explicit Adam(adam_options o = {}, std::uint64_t rounding_seed = 0) : options_(o), rounding_(rounding_seed, 0xADu) {
    if (o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1)
      throw error("Adam: betas must be in [0, 1), got " + std::to_string(o.beta1) + " and " + std::to_string(o.beta2));
    if (o.epsilon <= 0) throw error("Adam: epsilon must be positive, got " + std::to_string(o.epsilon));
    if (o.weight_decay < 0) throw error("Adam: weight decay must be non-negative, got " + std::to_string(o.weight_decay));
  }

  // One update at learning rate lr; the gradients are multiplied by `unscale` as they are read
  // into the master precision (loss scaling's 1/S).
  template <class Model>
  void step(Model& model, double lr, double unscale = 1) {
    static_assert(std::is_same_v<typename Model::element_type, T>,
                  "strata::train::Adam<T>: T must be the model's element type");
    static_assert(!has_dynamic_scale<T>,
                  "strata::train::Adam: dynamic fixed point trains with SGD (as Courbariaux et al.): Adam's second moments "
                  "span more magnitudes than one shared exponent per tensor can hold");
    using M = compute_t<master_type>;  // scalars: the master's arithmetic
    ++t_;
    const M b1 = M(options_.beta1), b2 = M(options_.beta2);
    const M correction1 = M(1 - std::pow(options_.beta1, double(t_)));
    const M correction2 = M(1 - std::pow(options_.beta2, double(t_)));
    const M eps = M(options_.epsilon);
    std::size_t i = 0;
    model.visit_parameters([&](const parameter_ref<T, D>& p) {
      if (first_.size() <= i) {
        first_.emplace_back(p.value.shape());
        second_.emplace_back(p.value.shape());
      }
      auto& m = first_[i];
      auto& v = second_[i];
      if (m.size() != p.value.size())
        throw error("Adam: parameter " + p.name + " changed size since the optimizer's first step");
      const M decay = p.weight_decay ? M(options_.weight_decay) : M(0);
      const M rate = M(lr * p.rate);  // the layer's multiplier (0: frozen)
      auto w = masters_.of(i, p);
      if (p.rate == 0) {  // frozen: moments stay as they are
        ++i;
        return;
      }
      const auto update = [&](const auto& g) {
        if (options_.decoupled_weight_decay) {
          m = m * b1 + g * (M(1) - b1);
          v = v * b2 + square(g) * (M(1) - b2);
          w -= (m / correction1 / (sqrt(v / correction2) + eps) + w * decay) * rate;
        } else {
          m = m * b1 + (g + w * decay) * (M(1) - b1);
          v = v * b2 + square(g + w * decay) * (M(1) - b2);
          w -= m / correction1 / (sqrt(v / correction2) + eps) * rate;
        }
      };
      if (unscale == 1) update(master_weights<T, D>::gradient(p));  // no multiply where none is asked for
      else update(master_weights<T, D>::gradient(p) * M(unscale));
      masters_.store(i, p, rounding_);
      ++i;
    });
  }

  const adam_options& options() const noexcept { return options_; }
  std::int64_t steps() const noexcept { return t_; }
  // Master copies (empty when T is its own master precision).
  std::vector<Tensor<master_type, 1, D>>& master_copies() noexcept { return masters_.copies(); }
  // Everything a checkpoint keeps to continue exactly (train/checkpoint.hpp): the moments, the
  // master copies, the step count and the rounding stream.
  template <class F>
  void visit_checkpoint(F&& f) {
    f("first", first_);
    f("second", second_);
    f("master", masters_.copies());
    f("steps", t_);
    f("rounding", rounding_);
  }

 private:
  adam_options options_;
  random_engine rounding_;  // for stochastic rounding into storage
  std::int64_t t_ = 0;
  master_weights<T, D> masters_;
  std::vector<Tensor<master_type, 1, D>> first_, second_;
};

// A binary model's parameters (latent weights, batch norm, the real last layer) are fp32:
// Adam<binary> and Adam<scaled_binary> are Adam<float>.
template <class D>
class Adam<binary, D> : public Adam<float, D> {
  using Adam<float, D>::Adam;
};
template <class D>
class Adam<scaled_binary, D> : public Adam<float, D> {
  using Adam<float, D>::Adam;
};

}  // namespace strata::train
