// strata/train/loss_scaling.hpp — dynamic loss scaling (Micikevicius et al. 2017) for precisions
// whose floating-point storage is narrower than their master copy (fp16): the loss gradient is
// stored times S so small gradients survive fp16, a step whose gradients overflowed is skipped and
// S halves, and after N clean steps S doubles. fit uses it; a hand-written loop can too.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/cast.hpp"
#include "strata/core/error.hpp"
#include "strata/core/random.hpp"
#include "strata/core/reduction.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/layer.hpp"
#include "strata/layers/loss.hpp"
#include "strata/numeric/half.hpp"
#include "strata/numeric/precision_traits.hpp"
#include "strata/train/divergence.hpp"

namespace strata::train {

struct loss_scale_options {
  bool enabled = true;                  // only precisions that scale (scales_loss<T>) are affected
  double initial = 32768;               // S at the first step: 2^15
  std::int64_t growth_interval = 2000;  // clean steps in a row after which S doubles
};

// Precisions that need it: floating-point storage (an overflow shows as Inf or NaN) narrower than
// the master type, where small gradients would underflow. Not fp32 or fp64 (their own masters),
// not fixed point (it saturates instead of overflowing and has a range of its own).
template <class T>
inline constexpr bool scales_loss =
    std::numeric_limits<typename precision_traits<T>::storage>::has_infinity &&
    precision_traits<T>::storage_bits < 8 * static_cast<int>(sizeof(master_t<T>));

// The loss gradient into T: g·scale rounded into storage by precision_traits<T>::quantize (round to
// nearest for fp16; a stochastic-rounding precision draws from rng). g is in the master precision.
template <class T, class M>
void store_loss_gradient(TensorView<const M, 2> g, double scale, TensorView<T, 2> out, random_engine& rng) {
  const M s = M(scale);
  const M* from = g.data();
  T* to = out.data();
  for (std::int64_t i = 0; i < g.size(); ++i) to[i] = precision_traits<T>::quantize(master_t<T>(from[i] * s), rng);
}

// The same on another device, for fp16 (round to nearest even: its conversion), as one fused
// expression.
template <class T, class M, class D>
  requires(!std::is_same_v<D, cpu>)
void store_loss_gradient(TensorView<const M, 2, D> g, double scale, TensorView<T, 2, D> out, random_engine&) {
  static_assert(std::is_same_v<T, half>, "strata: on this device loss scaling is for fp16");
  out = cast<T>(g * M(scale));
}

// An optimizer that takes the factor its gradients are multiplied by as it reads them into the
// master precision (SGD and Adam: step(model, lr, unscale)).
template <class O, class M>
concept UnscalingOptimizer = requires(O& o, M& model, double lr, double unscale) { o.step(model, lr, unscale); };

// The state of dynamic loss scaling for a model in precision T on device D. For a precision that
// does not scale (or with enabled = false) it is inactive: S = 1, no checks, every step taken.
template <class T, class D = cpu>
class loss_scaler {
 public:
  using master_type = master_t<T>;

  explicit loss_scaler(loss_scale_options o = {}, std::uint64_t rounding_seed = 0)
      : active_(scales_loss<T> && o.enabled), scale_(active_ ? o.initial : 1.0), interval_(o.growth_interval),
        rounding_(rounding_seed, 0x1055u) {
    if (active_ && (!(o.initial >= 1) || !std::isfinite(o.initial)))
      throw error("loss scaling: the initial scale must be finite and at least 1, got " + std::to_string(o.initial));
    if (active_ && o.growth_interval < 1)
      throw error("loss scaling: the growth interval must be at least 1 step, got " + std::to_string(o.growth_interval));
  }

  bool active() const noexcept { return active_; }
  double scale() const noexcept { return scale_; }                   // S for the next batch
  std::int64_t skipped_steps() const noexcept { return skipped_; }   // since construction
  std::int64_t clean_steps() const noexcept { return clean_; }       // in a row, since S last changed
  // Everything a checkpoint keeps to continue exactly (train/checkpoint.hpp).
  template <class F>
  void visit_checkpoint(F&& f) {
    f("scale", scale_);
    f("skipped", skipped_);
    f("clean", clean_);
    f("rounding", rounding_);
  }

  // The loss of `outputs` and, into `gradient`, dL/d(outputs)·S stored in T. A precision that is its
  // own master gets the loss's gradient directly (unchanged from before scaling existed); others get
  // it computed in the master precision and rounded into storage once, through quantize.
  template <class L, class Targets>
  loss_result loss_gradient(batch_view<const T, D> outputs, const Targets& targets, batch_view<T, D> gradient, const L& = {}) {
    if constexpr (std::is_same_v<master_type, T> || has_dynamic_scale<T>) {  // dynamic: stored with its own exponent
      return L::template evaluate<T>(outputs, targets, gradient);
    } else {
      if (logits_.shape() != outputs.shape()) {
        logits_ = Tensor<master_type, 2, D>::uninitialized(outputs.shape());
        gradient_ = Tensor<master_type, 2, D>::uninitialized(outputs.shape());
      }
      logits_ = cast<master_type>(outputs);
      const loss_result r =
          L::template evaluate<master_type>(batch_view<const master_type, D>(logits_.view()), targets, gradient_.view());
      store_loss_gradient<T, master_type>(TensorView<const master_type, 2, D>(gradient_.view()), scale_, gradient, rounding_);
      return r;
    }
  }

  // After backward: the optimizer step at rate lr with the gradients divided by S — unless a
  // trainable gradient is Inf or NaN (gradients_finite, the detector fit uses too), when the step
  // is skipped and S halves (not below 1). After
  // growth_interval clean steps in a row S doubles. Returns whether the step was taken.
  template <class Optimizer, class Model>
  bool step(Optimizer& optimizer, Model& model, double lr) {
    if (!active_) {
      optimizer.step(model, lr);
      return true;
    }
    if (!gradients_finite(model)) {
      ++skipped_;
      clean_ = 0;
      scale_ = std::max(1.0, scale_ / 2);
      return false;
    }
    const double unscale = 1 / scale_;  // a power of two: exact in the master precision
    if constexpr (UnscalingOptimizer<Optimizer, Model>) {
      optimizer.step(model, lr, unscale);
    } else {
      // An optimizer without the factor: divide in storage (values below its range flush to 0).
      model.visit_parameters([&](auto& p) {
        if (p.rate != 0) p.gradient = p.gradient * compute_t<T>(unscale);
      });
      optimizer.step(model, lr);
    }
    if (++clean_ >= interval_) {
      clean_ = 0;
      scale_ *= 2;
    }
    return true;
  }

 private:
  bool active_;
  double scale_;
  std::int64_t interval_;
  std::int64_t skipped_ = 0, clean_ = 0;
  random_engine rounding_;  // for quantize, where a precision rounds stochastically
  Tensor<master_type, 2, D> logits_, gradient_;
};

}  // namespace strata::train
