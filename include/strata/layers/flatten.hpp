// strata/layers/flatten.hpp — Flatten: [C, H, W] → [C·H·W]. Batches are already stored flat,
// so this only changes the shape the next layer sees (the values are copied once).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/net/layer.hpp"

namespace strata {

struct Flatten {
  using spec_tag = void;

  template <class In>
  static constexpr bool accepts = StaticShape<In>;

  template <class In>
  struct traits {
    using output_shape = shape<In::elements>;
    static constexpr std::int64_t parameters = 0, flops = 0, saved = 0;
    static std::string describe() { return "flatten"; }
  };

  template <class In, class T>
  struct layer : stateless_layer {
    using output_shape = shape<In::elements>;
    void forward(batch_view<const T> x, batch_view<T> y, context&) { copy(x, y); }
    void backward(batch_view<const T>, batch_view<const T>, batch_view<const T> dy, batch_view<T> dx, context& ctx) {
      if (ctx.want_input_gradient) copy(dy, dx);
    }
  };
};

}  // namespace strata
