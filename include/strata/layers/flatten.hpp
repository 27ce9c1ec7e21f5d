// strata/layers/flatten.hpp — Flatten: [C, H, W] → [C·H·W]. Batches are already stored flat,
// so this only changes the shape the next layer sees (the values are copied once).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/layers/layer.hpp"

namespace strata {

struct Flatten {
  using spec_tag = void;

  template <class In>
  static constexpr bool accepts = StaticShape<In>;

  template <class In>
  struct traits {
    using output_shape = sample_shape<In::elements>;
    static constexpr std::int64_t parameters = 0, flops = 0, saved = 0;
    static std::string describe() { return "flatten"; }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    using output_shape = sample_shape<In::elements>;
    void forward(batch_view<const T, D> x, batch_view<T, D> y, context&) { copy(x, y); }
    void backward(batch_view<const T, D>, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx, context& ctx) {
      if (ctx.want_input_gradient) copy(dy, dx);
    }
  };
};

}  // namespace strata
