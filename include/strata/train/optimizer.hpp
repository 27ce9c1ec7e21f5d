// strata/train/optimizer.hpp — what an optimizer is (the Optimizer concept: step(model, lr)), and
// the master copies every optimizer keeps: each parameter is updated in precision_traits<T>::
// master (fp32 for fp16 models) and stored back through precision_traits<T>::quantize, so a
// low-precision model never accumulates its updates in its own storage precision.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/core/error.hpp"
#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/layer.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::train {

template <class O, class M>
concept Optimizer = requires(O& o, M& model, double lr) { o.step(model, lr); };

// Per-parameter master copies in master_t<T>, in visiting order. When T is its own master (fp32,
// fp64) the parameter itself is the master and nothing is copied. A precision whose traits say
// `persistent_master = false` (fixed point: Gupta et al. keep no wider copy — stochastic rounding
// of each update into storage is what keeps small updates alive) gets its working copy re-read
// from the stored values at every step.
template <class T, class D = cpu>
class master_weights {
 public:
  using master_type = master_t<T>;
  static constexpr bool separate = !std::is_same_v<master_type, T>;
  static constexpr bool persistent = separate && keeps_master_copy<T>;

  // The master values of parameter i (p), made from the parameter on first use.
  TensorView<master_type, 1, D> of(std::size_t i, const parameter_ref<T, D>& p) {
    if constexpr (!separate) {
      return p.value;
    } else {
      if (copies_.size() <= i) {
        copies_.emplace_back(p.value.shape());
        copies_.back() = cast<master_type>(p.value);
      } else if (!persistent) {
        if (copies_[i].size() == p.value.size()) copies_[i] = cast<master_type>(p.value);
      }
      if (copies_[i].size() != p.value.size())
        throw error("optimizer: parameter " + p.name + " changed size since the optimizer's first step");
      return copies_[i].view();
    }
  }

  // The gradient of p as an expression in the master type.
  static auto gradient(const parameter_ref<T, D>& p) {
    if constexpr (!separate) return p.gradient;
    else return cast<master_type>(p.gradient);
  }

  // Stores parameter i's master values back into p through precision_traits<T>::quantize
  // (round to nearest, or stochastically with rng where the precision rounds that way).
  void store(std::size_t i, const parameter_ref<T, D>& p, random_engine& rng) {
    if constexpr (separate && !std::is_same_v<D, cpu>) {
      // On a device: fp16's round to nearest even is its conversion, one fused expression.
      static_assert(std::is_same_v<T, half>,
                    "strata: on this device only fp16 keeps master weights (stochastic rounding runs on the CPU)");
      assign(p.value, cast<T>(copies_[i].view()));
      (void)rng;
    } else if constexpr (separate) {
      const master_type* m = copies_[i].data();
      T* w = p.value.data();
      if constexpr (has_dynamic_scale<T>)
        assign(p.value, cast<T>(copies_[i].view()));  // Bits-bit mantissas under an exponent chosen from the values
      else if constexpr (std::is_same_v<T, half> && std::is_same_v<master_type, float>)
        strata::convert(m, w, p.value.size());  // fp16's quantize is round to nearest even: the bulk conversion, bit for bit
      else
        for (std::int64_t k = 0; k < p.value.size(); ++k) w[k] = precision_traits<T>::quantize(m[k], rng);
    } else {
      (void)i, (void)p, (void)rng;
    }
  }

  // w -= delta (an expression in the master type, w parameter i's master values), then store(i, p,
  // rng). fp16 on the CPU does both in one pass over w (the same values: the update, then the
  // round to nearest even of each); the others run them as written.
  template <class E>
  void subtract_and_store(std::size_t i, const parameter_ref<T, D>& p, const TensorView<master_type, 1, D>& w, E&& delta,
                          random_engine& rng) {
    if constexpr (separate && std::is_same_v<T, half> && std::is_same_v<master_type, float> && std::is_same_v<D, cpu>) {
      const auto node = as_node(std::forward<E>(delta));
      if (node.shape() != w.shape())
        throw shape_error("optimizer: update " + node.shape().to_string() + " and parameter " + w.shape().to_string() +
                          " have different shapes");
      if (w.data() != copies_[i].data() || p.value.size() != w.size())
        throw error("optimizer: subtract_and_store needs parameter " + p.name + "'s own master values");
      strata::detail::assign_subtract_and_narrow(w, node, p.value.data());
    } else {
      w -= std::forward<E>(delta);
      store(i, p, rng);
    }
  }

  std::vector<Tensor<master_type, 1, D>>& copies() noexcept { return copies_; }

 private:
  std::vector<Tensor<master_type, 1, D>> copies_;
};

}  // namespace strata::train
