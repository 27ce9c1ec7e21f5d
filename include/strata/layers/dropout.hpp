// strata/layers/dropout.hpp — Dropout<p>: in training, zero each value with probability p and
// scale the rest by 1/(1 − p) ("inverted" dropout, so inference is the identity). The mask comes
// from the model's seeded Philox engine: the same seed gives the same masks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/core/random.hpp"
#include "strata/layers/options.hpp"
#include "strata/net/layer.hpp"

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

  template <class In, class T>
  struct layer : stateless_layer {
    using output_shape = In;
    Tensor<T, 1> mask;


    void forward(batch_view<const T> x, batch_view<T> y, context& ctx) {
      if (!ctx.training || P == 0.0f) {
        y = x;
        return;
      }
      if (!ctx.rng) throw error("strata::Dropout: training needs the model's random engine (context::rng)");
      const std::int64_t count = x.size();
      if (mask.size() < count) mask = Tensor<T, 1>::uninitialized(Shape<1>{count});
      const std::uint64_t seed = detail::next_seed(*ctx.rng);
      const T keep_scale = T(1) / T(1 - P);
      T* m = mask.data();
      parallel_ranges((count + 3) / 4, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t block = b; block < e; ++block) {
          const auto bits = detail::philox_block(seed, static_cast<std::uint64_t>(block), 0);
          for (std::int64_t l = 0; l < 4 && block * 4 + l < count; ++l)
            m[block * 4 + l] = detail::unit_float(bits[l]) < P ? T(0) : keep_scale;
        }
      });
      y = x * TensorView<const T, 2>(m, x.shape());
    }

    void backward(batch_view<const T>, batch_view<const T>, batch_view<const T> dy, batch_view<T> dx, context& ctx) {
      if (!ctx.want_input_gradient) return;
      if (!ctx.training || P == 0.0f) dx = dy;
      else dx = dy * TensorView<const T, 2>(mask.data(), dy.shape());
    }
  };
};

}  // namespace strata
