// strata/train/sgd.hpp — stochastic gradient descent with momentum, Nesterov momentum and
// weight decay, with PyTorch's update rule (so hyper-parameters carry over):
//   g = ∇ + λ·w;  v = μ·v + g;  w −= lr · (nesterov ? g + μ·v : v)
// Weight decay skips parameters marked exempt (biases, normalisation scales and shifts). Each
// parameter's rate is lr times its layer's multiplier (parameter_ref::rate; 0 leaves it alone).
// Updates run in the master precision (train/optimizer.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/layer.hpp"
#include "strata/train/optimizer.hpp"

namespace strata::train {

struct sgd_options {
  double momentum = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

template <class T = float, class D = cpu>
class SGD {
 public:
  using master_type = master_t<T>;
  static constexpr std::string_view checkpoint_kind = "sgd";  // its name in a checkpoint

  explicit SGD(sgd_options o = {}, std::uint64_t rounding_seed = 0) : options_(o), rounding_(rounding_seed, 0x56u) {
    if (o.momentum < 0 || o.momentum >= 1) throw error("SGD: momentum must be in [0, 1), got " + std::to_string(o.momentum));
    if (o.weight_decay < 0) throw error("SGD: weight decay must be non-negative, got " + std::to_string(o.weight_decay));
    if (o.nesterov && o.momentum == 0) throw error("SGD: Nesterov momentum needs a momentum above 0");
  }

  // One update of every parameter of `model` with learning rate lr, in the master precision.
  // The gradients are multiplied by `unscale` as they are read into it (loss scaling's 1/S).
  template <class Model>
  void step(Model& model, double lr, double unscale = 1) {
    static_assert(std::is_same_v<typename Model::element_type, T>,
                  "strata::train::SGD<T>: T must be the model's element type");
    std::size_t i = 0;
    using S = compute_t<master_type>;  // scalars: the master's arithmetic (a dynamic fixed-point element has no value alone)
    const S mu = S(options_.momentum);
    model.visit_parameters([&](const parameter_ref<T, D>& p) {
      const S decay = p.weight_decay ? S(options_.weight_decay) : S(0);
      const S rate = S(lr * p.rate);  // the layer's multiplier (0: frozen)
      auto w = masters_.of(i, p);
      if (mu != S(0) && velocity_.size() <= i) velocity_.emplace_back(p.value.shape());  // v₁ = g₁
      if (p.rate == 0) {  // frozen: no update, no momentum (as a PyTorch parameter without grad)
        ++i;
        return;
      }
      // w −= Δ, then w stored into the parameter (for fp16 in the same pass: subtract_and_store).
      const auto update = [&](const auto& g) {
        if (mu == S(0)) {
          masters_.subtract_and_store(i, p, w, (g + w * decay) * rate, rounding_);
        } else {
          auto& v = velocity_[i];
          if (v.size() != p.value.size())
            throw error("SGD: parameter " + p.name + " changed size since the optimizer's first step");
          v = v * mu + g + w * decay;
          if (options_.nesterov) masters_.subtract_and_store(i, p, w, (g + w * decay + v * mu) * rate, rounding_);
          else masters_.subtract_and_store(i, p, w, v * rate, rounding_);
        }
      };
      if (unscale == 1) update(master_weights<T, D>::gradient(p));  // no multiply where none is asked for
      else update(master_weights<T, D>::gradient(p) * S(unscale));
      ++i;
    });
  }

  const sgd_options& options() const noexcept { return options_; }
  // Momentum buffers in visiting order (saved with a model to resume training).
  std::vector<Tensor<master_type, 1, D>>& state() noexcept { return velocity_; }
  // Master copies (empty when T is its own master precision).
  std::vector<Tensor<master_type, 1, D>>& master_copies() noexcept { return masters_.copies(); }
  // Everything a checkpoint keeps to continue exactly (train/checkpoint.hpp): f(name, tensors)
  // for the momentum buffers and master copies, f(name, engine) for the rounding stream.
  template <class F>
  void visit_checkpoint(F&& f) {
    f("velocity", velocity_);
    f("master", masters_.copies());
    f("rounding", rounding_);
  }

 private:
  sgd_options options_;
  random_engine rounding_;  // for stochastic rounding into storage
  master_weights<T, D> masters_;
  std::vector<Tensor<master_type, 1, D>> velocity_;
};

// A binary model's parameters (latent weights, batch norm, the real last layer) are fp32:
// SGD<binary> and SGD<scaled_binary> are SGD<float>.
template <class D>
class SGD<binary, D> : public SGD<float, D> {
  using SGD<float, D>::SGD;
};
template <class D>
class SGD<scaled_binary, D> : public SGD<float, D> {
  using SGD<float, D>::SGD;
};

}  // namespace strata::train
