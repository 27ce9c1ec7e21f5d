// strata/layers/dropout.hpp — Dropout<p>: in training, zero each value with probability p and
// scale the rest by 1/(1 − p) ("inverted" dropout, so inference is the identity). The mask comes
// from the model's seeded Philox engine: the same seed gives the same masks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/core/random.hpp"
#include "strata/layers/options.hpp"
#include "strata/layers/layer.hpp"
#include "strata/ops/dropout.hpp"

namespace strata {

template <float P = 0.5f>
struct Dropout {
  static_assert(P >= 0 && P < 1, "strata::Dropout<p>: p must be in [0, 1)");
  using spec_tag = void;

  template <class In>
  static constexpr bool accepts = StaticShape<In>;

  template <class In>
  struct traits {
    using output_shape = In;
    static constexpr std::int64_t parameters = 0, flops = 0;
    static constexpr std::int64_t saved = In::elements;  // the scaled mask
    static std::string describe() { return "dropout p = " + std::to_string(P).substr(0, 4); }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    using output_shape = In;
    Tensor<T, 1, D> mask;

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      if (!ctx.training || P == 0.0f) {
        y = x;
        return;
      }
      if (!ctx.rng) throw error("strata::Dropout: training needs the model's random engine (context::rng)");
      const std::int64_t count = x.size();
      if (mask.size() < count) mask = Tensor<T, 1, D>::uninitialized(Shape<1>{count});
      ops::dropout_mask(D{}, count, P, detail::next_seed(*ctx.rng), mask.data());
      y = x * TensorView<const T, 2, D>(mask.data(), x.shape());
    }

    void backward(batch_view<const T, D>, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx, context& ctx) {
      if (!ctx.want_input_gradient) return;
      if (!ctx.training || P == 0.0f) dx = dy;
      else dx = dy * TensorView<const T, 2, D>(mask.data(), dy.shape());
    }
  };
};

}  // namespace strata
